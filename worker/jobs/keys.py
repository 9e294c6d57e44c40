"""Every Redis key and pub/sub channel pushgate uses, named in this one place. Only the job
store and the objects it hands out (worker/jobs/) build names, and only from here; a key that
is not in this module is not pushgate's."""

from __future__ import annotations

PREFIX = "pushgate"

# -- jobs --
JOB_PREFIX = f"{PREFIX}:job:"  # + job id: one hash per job (the Lua limits read it by prefix)
ACTIVE_KEY = f"{PREFIX}:active"  # every queued or running job: id -> created (epoch seconds)
RUNNING_KEY = f"{PREFIX}:running"  # job id -> last heartbeat (epoch seconds)
SUBMITTING_KEY = f"{PREFIX}:submitting"  # job id -> created, until its message is sent
CHANGE_CHANNEL_PREFIX = f"{PREFIX}:job-changed:"  # + job id: pub/sub, a job changed


def job(job_id: str) -> str:
    """A job's hash."""
    return JOB_PREFIX + job_id


def job_index(app_slug: str | None) -> str:
    """The time-ordered index of all jobs (None) or of one app's."""
    return f"{PREFIX}:jobs" if app_slug is None else f"{PREFIX}:jobs:slug:{app_slug}"


def idempotency(digest: str) -> str:
    """An idempotency record ("JOB_ID FINGERPRINT") under the digest of (scope, key)."""
    return f"{PREFIX}:idempotency:{digest}"


# -- callers' limits and long-polls --
def caller_rate(caller: str) -> str:
    """A caller's submissions of the last minute (zset)."""
    return f"{PREFIX}:rate:{caller}"


def caller_active(caller: str) -> str:
    """A caller's queued or running jobs (zset)."""
    return f"{PREFIX}:active:key:{caller}"


def waits(key_sha256: str) -> str:
    """The long-poll leases of one API key, by its hash (never the key)."""
    return f"{PREFIX}:waits:{key_sha256[:32]}"


# -- what the workers share --
GZIP_OF_LAYER_KEY = f"{PREFIX}:gzip-of-layer"  # daemon layer diff_id -> gzip digest and size


def blob_ledger(scope: str) -> str:
    """An app's blob ledger on one registry: blob digest -> repository."""
    return f"{PREFIX}:blobs:{scope}"


def tag_lock(kind: str, tag: str) -> str:
    """A lock on one tag (`kind`: daemon-tag or registry-tag)."""
    return f"{PREFIX}:{kind}:{tag}"


def plan(plan_id: str, part: str) -> str:
    """One part (job, learned, answer) of a plan in flight."""
    return f"{PREFIX}:plan:{plan_id}:{part}"


# -- the audit trail --
AUDIT_KEY = f"{PREFIX}:audit"  # every event
AUTH_FAILURES_KEY = f"{PREFIX}:audit-authentication-failures"


def audit_stream(app_slug: str | None) -> str:
    """The audit stream of every event (None) or of one app's."""
    return AUDIT_KEY if app_slug is None else f"{AUDIT_KEY}:slug:{app_slug}"


# -- webhook deliveries and chat requests --
WEBHOOK_SCHEDULE_KEY = f"{PREFIX}:webhook:schedule"  # delivery id -> when to (re)send its task
WEBHOOK_DISABLED_KEY = f"{PREFIX}:webhook:disabled"  # subscription name -> URL that answered 410


def delivery(delivery_id: str) -> str:
    """A webhook delivery's hash."""
    return f"{PREFIX}:webhook:delivery:{delivery_id}"


def job_deliveries(job_id: str) -> str:
    """The list of a job's webhook delivery ids."""
    return f"{PREFIX}:webhook:job:{job_id}"


def chat_seen(signature_sha256: str) -> str:
    """A signed chat request already accepted, by the hash of its signature."""
    return f"{PREFIX}:chat:seen:{signature_sha256}"
