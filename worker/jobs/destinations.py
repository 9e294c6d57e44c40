"""A job's push to its destinations: registry sources through the one copy path (one source
read per blob, however many targets), daemon sources one target after another; and the result
of each destination."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from worker.daemon.export import push_by_export
from worker.daemon.limits import check_before_docker_push
from worker.daemon.source import DaemonSource, push_with_sdk
from worker.errors import PushError, StoreUnavailable, UnsignedImage
from worker.jobs.audit import AuditLog
from worker.jobs.ledger import BlobLedger, TagLock
from worker.jobs.model import DestinationResult, Job, JobError
from worker.jobs.planning import layer_limit
from worker.jobs.signatures import SignatureChecks
from worker.policies import DaemonPushMode, ReferrersPolicy
from worker.redaction import redact
from worker.reference import daemon_name, parse_reference
from worker.registry.copier import CopyEngine
from worker.registry.cosign import VerifyPolicy
from worker.registry.destination import CopyOptions, Destination
from worker.registry.progress import Progress
from worker.settings import Settings

log = logging.getLogger(__name__)
StopCheck = Callable[[], None]


class TagLockSource(Protocol):
    """Hands out locks across workers and the audit trail (the job store)."""

    def tag_lock(self, tag: str, timeout: float) -> TagLock:
        """A lock on one daemon tag."""

    def registry_tag_lock(self, tag: str, timeout: float) -> TagLock:
        """A lock on one registry tag (`registry/repository:tag`)."""

    def audit_log(self) -> AuditLog:
        """The audit trail."""


@dataclass
class Outcome:
    """What a push did: the digests, what each destination serves, and each one's result;
    `error` is set when some destination failed."""

    source_digest: str | None = None
    digest: str | None = None
    served: dict[str, str] = field(default_factory=dict)
    removed: list[dict[str, str]] = field(default_factory=list)
    verified: list[dict[str, str]] = field(default_factory=list)
    results: list[DestinationResult] = field(default_factory=list)
    error: JobError | None = None


def planned_results(job: Job) -> list[DestinationResult]:
    """The job's destinations as pending results (a record from before targets has one)."""
    if job.results:
        return [dataclasses.replace(r, status="pending", error=None) for r in job.results]
    first = parse_reference(job.destinations[0])
    return [DestinationResult("replicated", first.registry, first.repository, job.destinations)]


def with_error(results: list[DestinationResult], error: JobError) -> list[DestinationResult]:
    """The results with every destination not yet succeeded failed with `error`."""
    return [
        r if r.status == "succeeded" else dataclasses.replace(r, status="failed", error=error)
        for r in results
    ]


class DestinationPusher:
    """Pushes a job's source to each of its destinations and reports per destination."""

    def __init__(
        self,
        settings: Settings,
        ledger: BlobLedger,
        daemon: DaemonSource,
        layer_cache: MutableMapping[str, str],
        locks: TagLockSource,
    ) -> None:
        self.settings, self.ledger, self.daemon = settings, ledger, daemon
        self.layer_cache, self.locks = layer_cache, locks
        self.signatures = SignatureChecks(settings, locks.audit_log())

    def ledger_scope(self, job: Job, registry: str) -> str:
        """Where the blob ledger of the job's app on `registry` lives (the vendor's: the app)."""
        return job.app_slug if registry == self.settings.registry else f"{job.app_slug}@{registry}"

    def push(
        self, engine: CopyEngine, job: Job, progress: Progress, should_stop: StopCheck
    ) -> Outcome:
        """Push to every destination; errors of the source (or of the only destination) and
        cancellation are raised, a failure of one of several destinations is in the Outcome.
        An app whose images must be signed has the signatures checked first (audited)."""
        verify = self.signatures.policy(job)
        try:
            outcome = self._push(engine, job, progress, should_stop, verify)
        except UnsignedImage as refused:
            self.signatures.record(job, [], refused.detail)
            raise
        if verify is not None and outcome.verified:
            self.signatures.record(job, outcome.verified, None)
        return outcome

    def _push(
        self,
        engine: CopyEngine,
        job: Job,
        progress: Progress,
        should_stop: StopCheck,
        verify: VerifyPolicy | None,
    ) -> Outcome:
        results = planned_results(job)
        legs = [
            Destination(
                r.target,
                r.parsed,
                partial(self.ledger.holders, self.ledger_scope(job, r.registry)),
                referrers=ReferrersPolicy(r.referrers),
                blob_limit=layer_limit(r),
            )
            for r in results
        ]
        if job.from_daemon:
            if verify is not None:
                raise self.signatures.refuse_daemon(job, verify)
            for leg in legs:
                self._push_daemon(engine, job, leg, progress, should_stop, alone=len(legs) == 1)
        else:
            engine.copy_to(
                job.source_reference,
                legs,
                options=self._options(job, verify),
                progress=progress,
                should_stop=should_stop,
            )
            if len(legs) == 1 and legs[0].error is not None:
                raise legs[0].error  # the only destination's error is the job's
        return self._outcome(job, results, legs)

    def _options(self, job: Job, verify: VerifyPolicy | None) -> CopyOptions:
        return job.copy_options(
            verify=verify,
            tag_lock=lambda tag: self.locks.registry_tag_lock(tag, job.deadline_seconds),
        )

    def _push_daemon(
        self,
        engine: CopyEngine,
        job: Job,
        leg: Destination,
        progress: Progress,
        should_stop: StopCheck,
        alone: bool,
    ) -> None:
        name = daemon_name(job.source_reference)
        dests = list(leg.references)
        limit = leg.blob_limit
        try:
            if self.settings.daemon_push is DaemonPushMode.SDK:
                image = self.daemon.image(name)
                check_before_docker_push(self.daemon, image, name, leg.name, limit)
                login = engine.client(dests[0].registry).login()
                leg.result = push_with_sdk(
                    self.daemon,
                    name,
                    dests,
                    engine,
                    login,
                    progress,
                    should_stop,
                    lambda tag: self.locks.tag_lock(tag, job.deadline_seconds),
                )
            else:
                leg.result = push_by_export(
                    self.daemon,
                    name,
                    dests,
                    engine,
                    progress,
                    should_stop,
                    self.layer_cache,
                    (leg.name, limit) if limit is not None else None,
                )
        except PushError as error:
            if alone or error.type == "cancelled":
                raise
            leg.error = error

    def _outcome(
        self, job: Job, results: list[DestinationResult], legs: list[Destination]
    ) -> Outcome:
        outcome = Outcome()
        failed: list[tuple[DestinationResult, PushError]] = []
        for result, leg in zip(results, legs, strict=True):
            if leg.result is not None:
                copied = leg.result
                outcome.source_digest, outcome.digest = copied.source_digest, copied.digest
                outcome.served.update(copied.served)
                outcome.removed, outcome.verified = copied.removed, copied.verified
                result.status, result.digest = "succeeded", copied.digest
                result.carried, result.left_behind = copied.carried, copied.left_behind
                result.skipped = copied.skipped
                self._record_blobs(job, result, copied.blobs)
            elif leg.error is not None:
                failed.append((result, leg.error))
                result.status, result.error = "failed", JobError.of(leg.error)
            outcome.results.append(result)
        if failed:
            outcome.error = combined_error(failed, len(results))
        return outcome

    def _record_blobs(self, job: Job, result: DestinationResult, blobs: list[str]) -> None:
        try:
            self.ledger.record(self.ledger_scope(job, result.registry), result.repository, blobs)
        except StoreUnavailable as exc:  # only an optimisation for later pushes
            log.warning("push job %s: blob ledger not updated: %s", job.id, exc)


def combined_error(failed: list[tuple[DestinationResult, PushError]], total: int) -> JobError:
    """The job's error when some of several destinations failed: the type and title of the
    first failed one in the job's order, every failure named (the rule:
    worker/registry/transfer.py)."""
    first = failed[0][1]
    parts = [
        f"target {result.target} ({result.registry}/{result.repository}): {error.detail}"
        for result, error in failed
    ]
    ok = total - len(failed)
    detail = f"{len(failed)} of {total} destinations failed ({ok} succeeded): " + "; ".join(parts)
    return JobError(first.type, f"{first.title} ({failed[0][0].target})", redact(detail))
