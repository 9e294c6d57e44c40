"""The public job interface: turn a push request into a job, store it, enqueue it, cancel it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from functools import partial
from typing import Any

from worker.apps import AppPolicies
from worker.errors import (
    IdempotencyConflict,
    InvalidReference,
    InvalidRequest,
    JobNotFound,
    StoreUnavailable,
)
from worker.jobs.model import DestinationResult, Job, JobStatus, new_job_id
from worker.jobs.store import JobStore
from worker.policies import ReferrersPolicy
from worker.reference import (
    DAEMON_TRANSPORT,
    Reference,
    default_image,
    is_daemon_source,
    parse_daemon_source,
    parse_reference,
    validate_repository,
    validate_slug,
    validate_tag,
)
from worker.registry.destination import PushOptions
from worker.settings import Settings
from worker.targets import Target, TargetSet
from worker.targets_file import load_targets

MAX_EXTRA_TAGS = 20
HASHED_SINCE_V1 = ("attestations", "platforms")  # push options always in the fingerprint
Enqueue = Callable[[str], None]
QueueMessage = Callable[[str], tuple[str, str]]  # job id -> (queue list, task message)


@dataclass(frozen=True)
class PushRequest:
    """What a caller asked for, before validation against the settings; what it asks of the
    copy itself (`options`) goes to the job and the engine as it is."""

    source: str
    app_slug: str
    image: str | None = None  # the API's `target`: the image's name under the app
    tag: str | None = None
    extra_tags: list[str] = field(default_factory=list)
    deadline_seconds: float | None = None
    targets: list[str] = field(default_factory=list)
    callback_url: str | None = None
    callback_events: list[str] | None = None
    referrers: str | None = None
    options: PushOptions = field(default_factory=PushOptions)

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> PushRequest:
        """The request of a body's fields, the push options among them gathered as `options`
        (InvalidRequest naming an option whose value it does not take)."""
        names = {f.name for f in fields(PushOptions)}
        asked = {name: value for name, value in body.items() if name not in names}
        return cls(**asked, options=PushOptions.of(body))

    def fingerprint(self) -> str:
        """A stable hash of the request body (the options flat, as sent), to compare
        idempotent retries."""
        body = asdict(self)
        del body["options"]
        # An option left at its default is not hashed (attestations and platforms always were),
        # so adding an option keeps the replays across that upgrade matching.
        default = PushOptions().record()
        body.update(
            (name, value)
            for name, value in self.options.record().items()
            if name in HASHED_SINCE_V1 or value != default[name]
        )
        body["target"] = body.pop("image")  # hashed under its API name, as before the rename
        if not body["targets"]:  # as before targets existed: replays across an upgrade match
            del body["targets"]
        if body["referrers"] is None:  # likewise before the referrers field
            del body["referrers"]
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _field(name: str, check: Callable[[], object]) -> None:
    try:
        check()
    except InvalidReference as exc:
        raise InvalidRequest(name, str(exc)) from None


def _referrers(value: str | None) -> ReferrersPolicy | None:
    if value is None:
        return None
    try:
        return ReferrersPolicy(value)
    except ValueError:
        allowed = ", ".join(policy.value for policy in ReferrersPolicy)
        raise InvalidRequest("referrers", f"must be one of {allowed}") from None


def plan_job(
    request: PushRequest,
    settings: Settings,
    owner: str,
    targets: TargetSet | None = None,
    request_id: str = "",
    apps: AppPolicies | None = None,
) -> Job:
    """Validate `request` against the settings and targets (default: loaded from the
    settings) and build its queued Job (not yet stored). `apps` gives the app's default
    targets and its own repositories; whether it may push is `worker.jobs.policy`'s question."""
    daemon = is_daemon_source(request.source)
    source = _source(request.source, daemon, settings)
    _field("app_slug", lambda: validate_slug(request.app_slug))
    image = request.image or default_image(source)
    _field("target", lambda: validate_repository(image))
    tags = _tags(request, source)
    chosen = _chosen_targets(request, targets or load_targets(settings), apps or AppPolicies())
    referrers = _referrers(request.referrers)
    results = [_planned(each, request.app_slug, image, tags, referrers) for each in chosen]
    dests = [ref for result in results for ref in result.references]
    deadline = request.deadline_seconds or settings.default_deadline
    if deadline > settings.max_deadline:
        raise InvalidRequest(
            "deadline_seconds", f"at most {int(settings.max_deadline)} seconds on this service"
        )
    return Job(
        id=new_job_id(),
        status=JobStatus.QUEUED,
        source=f"{DAEMON_TRANSPORT}{source}" if daemon else str(source),
        app_slug=request.app_slug,
        image=image,
        tags=tags,
        destinations=dests,
        owner=owner,
        targets=[each.name for each in chosen],
        results=results,
        referrers=referrers.value if referrers else None,
        options=request.options,
        deadline_seconds=deadline,
        request_hash=request.fingerprint(),
        request_id=request_id,
    )


def _source(text: str, daemon: bool, settings: Settings) -> Reference:
    """The parsed source of a request: a daemon's only when the service enables them, a
    registry's only from an allowed source registry."""
    if daemon and not settings.daemon_sources:
        raise InvalidRequest(
            "source",
            "docker-daemon: sources are not enabled on this service "
            "(the operator sets PUSHGATE_DAEMON_SOURCES=1)",
        )
    try:
        source = (parse_daemon_source if daemon else parse_reference)(text)
    except InvalidReference as exc:
        raise InvalidRequest("source", str(exc)) from None
    if not daemon and not settings.source_allowed(source.registry):
        allowed = ", ".join(sorted(settings.source_registries)) or "none configured"
        raise InvalidRequest(
            "source",
            f"source registry {source.registry} is not allowed (allowed: {allowed}); "
            "the operator sets PUSHGATE_SOURCE_REGISTRIES",
        )
    return source


def _tags(request: PushRequest, source: Reference) -> list[str]:
    """The tags to push, first the one asked for (else the source's), each valid, no repeats."""
    tag = request.tag or source.tag
    if tag is None:
        raise InvalidRequest("tag", "tag is required when the source is given by digest")
    _field("tag", lambda: validate_tag(tag))
    if len(request.extra_tags) > MAX_EXTRA_TAGS:
        raise InvalidRequest("extra_tags", f"at most {MAX_EXTRA_TAGS} extra tags")
    for extra in request.extra_tags:
        _field("extra_tags", partial(validate_tag, extra))
    tags = list(dict.fromkeys([tag, *request.extra_tags]))
    return tags


def _chosen_targets(request: PushRequest, targets: TargetSet, apps: AppPolicies) -> list[Target]:
    """The targets named (else the app's defaults), each with the app's own repository."""
    names = request.targets or apps.default_targets(request.app_slug)
    chosen = []
    for each in targets.resolve(names, request.app_slug):
        own = apps.repository_for(request.app_slug, each.name)
        chosen.append(replace(each, repository=own) if own else each)
    return chosen


def _planned(
    target: Target,
    app_slug: str,
    image: str,
    tags: list[str],
    referrers: ReferrersPolicy | None,
) -> DestinationResult:
    """The pending result of one target: its repository, references and referrers policy
    (the request's, else the target's)."""
    try:
        refs = [target.reference(app_slug, image, tag) for tag in tags]
    except InvalidReference as exc:
        raise InvalidRequest("target", f"{exc} (target {target.name})") from None
    return DestinationResult(
        target.name,
        target.registry,
        refs[0].repository,
        [str(ref) for ref in refs],
        referrers=(referrers or target.referrers).value,
        layer_limit=target.layer_limit,
    )


def submit(store: JobStore, job: Job, enqueue: Enqueue, message: QueueMessage | None = None) -> Job:
    """Write the job record, then enqueue its id; undo the record if enqueueing fails. With
    `message` (the queue list and body of the job's task), the record and the message are
    written in one transaction instead."""
    if message is not None:
        store.create(job, message(job.id))
        return job
    store.create(job)
    try:
        enqueue(job.id)
    except Exception as exc:
        # If even the delete fails, the record expires with retention; no worker sees it.
        with contextlib.suppress(StoreUnavailable):
            store.delete(job)
        raise StoreUnavailable(f"could not enqueue the push: {type(exc).__name__}") from None
    # If this fails, the reconciler finds the job running or queued and leaves it be.
    with contextlib.suppress(StoreUnavailable):
        store.confirm(job.id)
    return job


IDEMPOTENCY_TTL = 24 * 3600


def submit_idempotent(
    store: JobStore,
    job: Job,
    enqueue: Enqueue,
    scope: str,
    key: str,
    message: QueueMessage | None = None,
) -> tuple[Job, bool]:
    """Submit once per (scope, key): (job, True) when new, (the earlier job, False) on a replay."""
    digest = _idempotency_digest(scope, key)
    records = store.idempotency()
    existing = records.remember(digest, job.id, job.request_hash, IDEMPOTENCY_TTL)
    if existing is None:
        try:
            return submit(store, job, enqueue, message), True
        except Exception:
            records.forget(digest)
            raise
    return _earlier(store, existing, job), False


def replayed(store: JobStore, job: Job, scope: str, key: str) -> Job | None:
    """The earlier job of an idempotent retry of `job`, if (scope, key) was used: asked before
    any limit is taken, so a retry always gets its job back."""
    existing = store.idempotency().recall(_idempotency_digest(scope, key))
    return None if existing is None else _earlier(store, existing, job)


def _idempotency_digest(scope: str, key: str) -> str:
    return hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()


def _earlier(store: JobStore, existing: str, job: Job) -> Job:
    """The job an idempotency record names; IdempotencyConflict for another request body."""
    job_id, fingerprint = existing.split(" ", 1)
    if fingerprint != job.request_hash:
        raise IdempotencyConflict(
            "this Idempotency-Key was used with a different request body in the last 24 h; "
            "use a new key for a new push"
        )
    for _ in range(50):  # the first request may still be writing its record
        try:
            return store.get(job_id)
        except JobNotFound:
            time.sleep(0.02)
    return store.get(job_id)
