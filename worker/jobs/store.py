"""The job store: push jobs as Redis hashes with expiry, listing indexes, atomic transitions,
and the owner of every other Redis key (heartbeats, cancel flags, and what it hands out: the
ledger, cache, locks, audit trail, caller limits, idempotency records, plans, webhook
deliveries, the chat replay guard). Key names: worker/jobs/keys.py; outages: StoreUnavailable."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from worker.errors import JobConflict, JobNotFound, PushCancelled
from worker.jobs import scripts as job_scripts
from worker.jobs.audit import AuditLog
from worker.jobs.connection import StoreConnection, guard
from worker.jobs.deliveries import DeliveryRecords
from worker.jobs.idempotency import IdempotencyRecords
from worker.jobs.keys import ACTIVE_KEY, GZIP_OF_LAYER_KEY, RUNNING_KEY, SUBMITTING_KEY
from worker.jobs.keys import job as job_key
from worker.jobs.ledger import BlobLedger, LayerCache, TagLock
from worker.jobs.limits import CallerLimits
from worker.jobs.listing import JobListing
from worker.jobs.model import Claim, Job, JobError, JobPage, JobStatus, encode_field, job_of_reply
from worker.jobs.notify import ChangeFeed, channel, publish_change
from worker.jobs.plans import PlanExchange
from worker.jobs.replays import ReplayGuard
from worker.jobs.waits import WaitSlots
from worker.redisconn import redis_client
from worker.settings import Settings
from worker.timestamps import utcnow

UNCONFIRMED_GRACE = 60.0


@dataclass(frozen=True)
class RunState:
    """What a running job's heartbeat polls: the cancel flag and which run owns the job."""

    cancel_requested: bool
    run_id: str | None


class JobStore:
    """Push jobs in Redis: one hash per job, sorted sets to list them by time."""

    def __init__(self, connection: StoreConnection, retention: float) -> None:
        self._connection = connection
        self._redis = connection.client
        self.retention = int(retention)
        self._listing = JobListing(connection, self.key)
        self._transition = self._redis.register_script(job_scripts.TRANSITION)
        self._claim = self._redis.register_script(job_scripts.CLAIM)
        self._requeue = self._redis.register_script(job_scripts.REQUEUE_STALE)

    @classmethod
    def from_url(cls, url: str, retention: float) -> JobStore:
        """A store on the Redis at `url`, with short timeouts so outages surface quickly."""
        return cls(StoreConnection.from_url(url), retention)

    @classmethod
    def from_settings(cls, settings: Settings) -> JobStore:
        """A store on the Redis `settings` name: redis://, rediss:// or through Sentinel."""
        return cls(StoreConnection(redis_client(settings)), settings.job_retention)

    key = staticmethod(job_key)  # the Redis key of a job's hash

    def close(self) -> None:
        """Close the store's Redis connections (those of what it handed out too)."""
        self._connection.close()

    def ping(self) -> None:
        """Raise StoreUnavailable unless Redis answers."""
        with guard():
            self._redis.ping()

    # -- what the store hands out: every other Redis-backed object --

    def blob_ledger(self) -> BlobLedger:
        """Which repository of each app holds each blob (mount sources)."""
        return BlobLedger(self._connection)

    def layer_cache(self) -> LayerCache:
        """Daemon layer diff_id -> its gzip's digest and size, shared by the workers."""
        return LayerCache(self._connection, GZIP_OF_LAYER_KEY)

    def tag_lock(self, tag: str, timeout: float) -> TagLock:
        """A lock on one daemon tag for up to `timeout` seconds."""
        return TagLock(self._connection, tag, timeout)

    def registry_tag_lock(self, tag: str, timeout: float) -> TagLock:
        """A lock on one registry tag (`registry/repository:tag`) for up to `timeout` seconds,
        held while its content is read, changed and written back (a fallback index)."""
        return TagLock(self._connection, tag, timeout, kind="registry-tag")

    def audit_log(self) -> AuditLog:
        """The audit trail, kept as long as jobs are."""
        return AuditLog(self._connection, self.retention)

    def caller_limits(self) -> CallerLimits:
        """Per-caller rate and active-job limits."""
        return CallerLimits(self._connection, self.retention)

    def idempotency(self) -> IdempotencyRecords:
        """Which job each idempotent submission made."""
        return IdempotencyRecords(self._connection)

    def plans(self) -> PlanExchange:
        """Plans in flight between the API and a worker."""
        return PlanExchange(self._connection)

    def deliveries(self) -> DeliveryRecords:
        """Webhook delivery records, kept as long as jobs are."""
        return DeliveryRecords(self._connection, self.retention)

    def replay_guard(self, window: int) -> ReplayGuard:
        """Signed chat requests seen in the last `window` seconds."""
        return ReplayGuard(self._connection, window)

    def queue_length(self, queue: str) -> int:
        """Messages waiting in the broker list `queue` (same Redis as the jobs)."""
        with guard():
            return int(self._redis.llen(queue))

    def wait_slots(self) -> WaitSlots:
        """Leases on the long-polls each API key holds."""
        return WaitSlots(self._connection)

    def change_feed(self) -> ChangeFeed:
        """Wakes threads waiting for a job to change (the API's long-poll)."""
        return ChangeFeed(self._connection.client)

    # -- submission --

    def create(self, job: Job, message: tuple[str, str] | None = None) -> Job:
        """Store a new job and index it, all in one transaction; with its queue `message`
        (list, body) in the same transaction, else marked as submitting until confirm()."""
        with guard(), self._redis.pipeline(transaction=True) as pipe:
            record: dict[Any, Any] = job.to_record()
            pipe.hset(self.key(job.id), mapping=record)
            pipe.expire(self.key(job.id), self.retention)
            if message is None:
                pipe.zadd(SUBMITTING_KEY, {job.id: time.time()})
            else:
                pipe.lpush(*message)
            pipe.zadd(ACTIVE_KEY, {job.id: time.time()})
            pipe.zremrangebyscore(ACTIVE_KEY, "-inf", time.time() - self.retention)
            self._listing.add(pipe, job, self.retention)
            pipe.execute()
        return job

    def confirm(self, job_id: str) -> None:
        """Mark the job's message as sent: the reconciler no longer treats it as half-written."""
        with guard():
            self._redis.zrem(SUBMITTING_KEY, job_id)

    def delete(self, job: Job) -> None:
        """Remove a job and its index entries (used when it could not be enqueued)."""
        with guard(), self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.key(job.id))
            self._listing.remove(pipe, job)
            pipe.zrem(SUBMITTING_KEY, job.id)
            pipe.execute()

    def unconfirmed(self, older_than: float) -> list[str]:
        """Ids of jobs whose message was never confirmed sent, created before `older_than`."""
        with guard():
            return [str(j) for j in self._redis.zrangebyscore(SUBMITTING_KEY, "-inf", older_than)]

    # -- running --

    def claim(
        self, job_id: str, run_id: str, stale_before: float, now: dt.datetime | None = None
    ) -> Claim:
        """Take the job for a run and read it, in one step: it is taken when queued, or running
        with a heartbeat older than `stale_before` (its worker died). Counts the attempt,
        starts the heartbeat, and on the job's first run records `now` as its start."""
        args: list[str | float] = [job_id, run_id, time.time(), stale_before, self.retention]
        args += [encode_field(now or utcnow()), channel(job_id)]
        with guard():
            reply = self._claim(keys=[self.key(job_id), RUNNING_KEY], args=args)
        if reply[0] == -1:
            raise JobNotFound(f"no push job {job_id!r}")
        return Claim(reply[0] == 1, reply[1] == 1, job_of_reply(reply[2:]))

    def beat(self, job_id: str, at: float | None = None) -> None:
        """Record that the job's run is alive now (or was `at`, in epoch seconds)."""
        with guard():
            self._redis.zadd(RUNNING_KEY, {job_id: time.time() if at is None else at})

    def run_state(self, job_id: str) -> RunState:
        """The job's cancel flag and owning run, as its heartbeat polls them."""
        with guard():
            flag, owner = self._redis.hmget(self.key(job_id), ["cancel_requested", "run_id"])
        return RunState(
            bool(flag is not None and json.loads(flag)),
            None if owner is None else json.loads(owner),
        )

    def requeue_stale(self, stale_before: float) -> list[str]:
        """Put running jobs whose heartbeat stopped before `stale_before` back to queued."""
        with guard():
            stale = [str(j) for j in self._redis.zrangebyscore(RUNNING_KEY, "-inf", stale_before)]
            requeued = [
                self._requeue(keys=[self.key(j), RUNNING_KEY], args=[j, stale_before])
                for j in stale
            ]
            return [job_id for job_id, result in zip(stale, requeued, strict=True) if result == 1]

    def hand_back(self, job_id: str, run_id: str) -> bool:
        """Put the job this run holds back to queued at once, its heartbeat ended in the same
        step (its worker is shutting down); the caller re-sends its message. False when the
        run no longer holds it."""
        fields = {"status": JobStatus.QUEUED, "run_id": None}
        return bool(self._apply(job_id, [JobStatus.RUNNING], run_id, fields) == 1)

    def mark_stale(self, job_id: str) -> None:
        """Make the job's heartbeat look long stopped, so the next reconciler pass takes it."""
        self.beat(job_id, at=0)

    # -- reading and changing jobs: update and transition are the only writers of fields --

    def get(self, job_id: str) -> Job:
        """The job with this id; JobNotFound when it does not exist or has expired."""
        with guard():
            record = self._redis.hgetall(self.key(job_id))
        if not record:
            raise JobNotFound(f"no push job {job_id!r} (unknown, or expired after retention)")
        return Job.from_record({str(k): str(v) for k, v in record.items()})

    def update(self, job_id: str, **fields: object) -> None:
        """Set fields of an existing job (no status check)."""
        with guard():
            if not self._redis.exists(self.key(job_id)):
                raise JobNotFound(f"no push job {job_id!r}")
            values: dict[Any, Any] = {k: encode_field(v) for k, v in fields.items()}
            self._redis.hset(self.key(job_id), mapping=values)
        publish_change(self._redis, job_id)

    def transition(
        self,
        job_id: str,
        allowed: Iterable[JobStatus],
        to: JobStatus,
        run_id: str | None = None,
        **fields: object,
    ) -> bool:
        """Move the job to `to` (and set fields) only if its status is in `allowed` and,
        when `run_id` is given, the job still belongs to that run. An end state ends the
        job's heartbeat in the same step."""
        result = self._apply(job_id, allowed, run_id, {"status": to, **fields})
        if result == -1:
            raise JobNotFound(f"no push job {job_id!r}")
        return bool(result == 1)

    def end(self, job_id: str, to: JobStatus, run_id: str, **fields: object) -> Job | None:
        """End the running job as `to` (and set fields) if `run_id` still holds it, and read
        it back in the same step: the job as it ended, or None when it changed hands."""
        reply = self._apply(job_id, [JobStatus.RUNNING], run_id, {"status": to, **fields}, True)
        if reply == -1:
            raise JobNotFound(f"no push job {job_id!r}")
        return job_of_reply(reply[1:]) if isinstance(reply, list) else None

    def _apply(
        self,
        job_id: str,
        allowed: Iterable[JobStatus],
        run_id: str | None,
        fields: Any,
        read: bool = False,
    ) -> Any:
        """Run TRANSITION, which announces the change and, but for a move to running, ends the
        job's heartbeat; with `read`, the changed job's record comes back."""
        ended = "" if fields["status"] is JobStatus.RUNNING else job_id
        head = [json.dumps([str(s) for s in allowed]), json.dumps(run_id) if run_id else ""]
        args: list[str | int] = [*head, self.retention, ended, channel(job_id), "read" * read]
        args += [text for name, value in fields.items() for text in (name, encode_field(value))]
        with guard():
            return self._transition(keys=[self.key(job_id), RUNNING_KEY], args=args)

    def request_cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once, or flag a running one; JobConflict when finished."""
        error = JobError.of(PushCancelled("cancelled before it started"))
        ended: dict[str, Any] = {"cancel_requested": True, "finished_at": utcnow(), "error": error}
        if self.transition(job_id, [JobStatus.QUEUED], JobStatus.CANCELLED, **ended):
            return self.get(job_id)
        if self.transition(job_id, [JobStatus.RUNNING], JobStatus.RUNNING, cancel_requested=True):
            return self.get(job_id)
        job = self.get(job_id)
        raise JobConflict(f"push job {job_id} has already finished as {job.status}")

    def list_jobs(
        self, app_slugs: list[str] | None, status: str | None, limit: int, cursor: str | None
    ) -> JobPage:
        """Jobs newest first, of `app_slugs` (None: all), optionally of one status."""
        return self._listing.page(app_slugs, status, limit, cursor)
