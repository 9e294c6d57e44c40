"""Run one push job: claim it, copy the image, record the outcome. No Celery in here."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from worker.daemon.source import DaemonSource
from worker.engines import build_engine
from worker.errors import (
    ConfigurationError,
    InternalError,
    JobNotFound,
    PushCancelled,
    PushError,
    StoreUnavailable,
)
from worker.jobs.destinations import DestinationPusher, Outcome, planned_results, with_error
from worker.jobs.heartbeat import JobHeartbeat
from worker.jobs.model import Job, JobError, JobPhase, JobStatus
from worker.jobs.progress_writer import ProgressWriter
from worker.jobs.shutdown import SHUTDOWN, hand_back
from worker.jobs.store import JobStore
from worker.jobs.timing import current_phases, job_clock, job_phases
from worker.logs import bind, clear
from worker.prometheus_metrics import MeteredProgress, RegistryMetrics, count_finished
from worker.redaction import redact
from worker.registry.copier import CopyEngine
from worker.registry.retry import RetryStats, current_stop, job_retries
from worker.settings import Settings
from worker.timestamps import utcnow

log = logging.getLogger(__name__)
# Told "push.started" once a job first runs and "push.<end status>" when it ends; must not
# raise for long (the webhook dispatcher only writes to Redis and queues a task).
EventSink = Callable[[str, Job], object]
T = TypeVar("T")
STORE_POLL = 0.5  # seconds between pings while the job store is down


class JobRunner:
    """Runs push jobs with one engine; shared by every task a worker process executes."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        engine_factory: Callable[[], CopyEngine] | None = None,
        events: EventSink | None = None,
        requeue: Callable[[str], None] | None = None,
    ) -> None:
        self.settings, self.store = settings, store
        self.events = events
        self.requeue = requeue  # re-sends a job's message when it is handed back
        self._engine_factory = engine_factory or partial(
            build_engine, settings, observer=RegistryMetrics()
        )
        self._engine: CopyEngine | None = None
        self._engine_lock = threading.Lock()
        self.ledger = store.blob_ledger()
        self.daemon = DaemonSource(settings.docker_host)
        self.layer_cache = store.layer_cache()
        self.pusher = DestinationPusher(settings, self.ledger, self.daemon, self.layer_cache, store)

    def engine(self) -> CopyEngine:
        """The copy engine, built by the first job that needs it (which reads the registry
        token): an unreadable token file fails that job, and the next one tries again."""
        with self._engine_lock:
            if self._engine is None:
                self._engine = self._engine_factory()
            return self._engine

    def close(self) -> None:
        """Close the engine's registry connections and the store's Redis pool."""
        with self._engine_lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
        self.store.close()

    def run(self, job_id: str) -> Job | None:
        """Run the job to an end state; returns it, or None when it no longer exists or the
        job store stayed unreachable (the job is then left for the reconciler to requeue)."""
        run_id = uuid.uuid4().hex
        clear()  # the job's log fields stay bound until Celery's task_postrun (its last line)
        bind(job_id=job_id)
        try:
            return self._run(job_id, run_id)
        except StoreUnavailable as exc:
            log.warning("push job %s: %s; left as it is for the reconciler to requeue", job_id, exc)
            return None

    def _run(self, job_id: str, run_id: str) -> Job | None:
        """Claim, copy and finish: the job is read from Redis in the claim's step and in the
        step that ends it (the record the caller gets back and the end event carry)."""
        stale_before = time.time() - self.settings.heartbeat_timeout
        try:
            claim = partial(self.store.claim, job_id, run_id, stale_before, utcnow())
            claimed = self._when_available(job_id, claim)
        except JobNotFound:
            log.warning("push job %s has no record (expired?): nothing to do", job_id)
            return None
        job = claimed.job
        bind(app_slug=job.app_slug, key_name=job.owner, request_id=job.request_id)
        if not claimed:
            log.info(
                "push job %s is %s and not ours: duplicate delivery ignored", job_id, job.status
            )
            if job.status.finished:  # e.g. cancelled while queued; emitting again is harmless
                self._emit(f"push.{job.status}", job)
            return job
        if job.attempts > self.settings.max_attempts:
            last = job.error.detail if job.error else "the worker running it was lost"
            gave_up = InternalError(f"gave up after {job.attempts - 1} attempts; last: {last}")
            error = JobError.of(gave_up, "Too many attempts")
            return self._finish(job, run_id, JobStatus.FAILED, error=error) or self.store.get(
                job_id
            )
        if claimed.started:  # the claim recorded started_at: this is the job's first run
            self._emit("push.started", job)
        destinations = ", ".join(job.destinations)
        log.info(
            "push job %s: %s -> %s (attempt %d)", job_id, job.source, destinations, job.attempts
        )
        with SHUTDOWN.running():
            finished = self._copy(job, run_id)
        return finished or self.store.get(job_id)

    def _copy(self, job: Job, run_id: str) -> Job | None:
        """Push the job and record how it ended: the job as it ended, or None when this run
        did not end it (superseded, handed back, or another run ended it first)."""
        assert job.started_at is not None
        writer = ProgressWriter(self.store, job.id, self.settings.progress_interval)
        progress = MeteredProgress(writer)
        poll = min(0.5, self.settings.heartbeat_interval)
        deadline = job.started_at.timestamp() + job.deadline_seconds
        heartbeat = JobHeartbeat(self.store, job.id, run_id, deadline, poll)
        # This job's own retries: counted in its context (and the blob threads' copies of it),
        # never as the change in a counter that the process's other jobs also move.
        retried = RetryStats()
        clock = job_clock(job)

        def check() -> None:
            if SHUTDOWN.due():
                raise PushCancelled("the worker is shutting down: the job goes back to the queue")
            heartbeat.check()

        ended: list[Job | None] = [None]

        def finish(status: JobStatus, **fields: object) -> None:
            fields.update(progress=progress.snapshot(), phases=job_phases(clock))
            fields.update(retries=job.retries + retried.retries)
            error = fields.get("error")
            if isinstance(error, JobError) and "results" not in fields:
                fields["results"] = with_error(planned_results(job), error)
            ended[0] = self._when_available(
                job.id, lambda: self._finish(job, run_id, status, **fields)
            )

        retries_token = job_retries.set(retried)
        stop_token = current_stop.set(check)
        phases_token = current_phases.set(clock)
        try:
            with heartbeat:
                check()
                outcome = self.pusher.push(self.engine(), job, progress, check)
        except StoreUnavailable:
            raise  # not the push's fault: the job is left for the reconciler (see run)
        except Exception as exc:
            self._settle_failure(job, run_id, heartbeat, exc, finish)
            return ended[0]
        finally:
            current_phases.reset(phases_token)
            current_stop.reset(stop_token)
            job_retries.reset(retries_token)
        self._settle_outcome(job, outcome, finish)
        return ended[0]

    def _settle_failure(
        self,
        job: Job,
        run_id: str,
        heartbeat: JobHeartbeat,
        exc: Exception,
        finish: Callable[..., None],
    ) -> None:
        """Record a push that raised: cancelled, failed, or handed back to the queue when the
        worker shuts down (called inside the except block, so log.exception sees `exc`)."""
        if isinstance(exc, PushCancelled):
            if heartbeat.superseded.is_set():
                log.warning("push job %s: %s", job.id, exc.detail)
                return
            if SHUTDOWN.due() and not heartbeat.cancelled.is_set():
                hand_back(self.store, job.id, run_id, self.requeue)
                return
            status = JobStatus.CANCELLED if heartbeat.cancelled.is_set() else JobStatus.FAILED
            finish(status, error=JobError.of(exc))
        elif isinstance(exc, PushError):
            log.info("push job %s failed: %s: %s", job.id, exc.type, redact(exc.detail))
            finish(JobStatus.FAILED, error=JobError.of(exc))
        elif isinstance(exc, ConfigurationError):  # the operator's to fix: say what, not "crashed"
            log.error("push job %s: configuration: %s", job.id, redact(str(exc)))
            finish(JobStatus.FAILED, error=JobError.of(InternalError(f"configuration: {exc}")))
        else:
            log.exception("push job %s crashed", job.id)
            internal = InternalError(f"pushgate failed unexpectedly: {type(exc).__name__}")
            finish(JobStatus.FAILED, error=JobError.of(internal))

    @staticmethod
    def _settle_outcome(job: Job, outcome: Outcome, finish: Callable[..., None]) -> None:
        """Record a push that ran to its end: succeeded, or failed at some destination."""
        finish(
            JobStatus.FAILED if outcome.error else JobStatus.SUCCEEDED,
            source_digest=outcome.source_digest,
            digest=outcome.digest,
            served=outcome.served,
            removed=outcome.removed,
            verified=outcome.verified,
            results=outcome.results,
            error=outcome.error,
        )
        if outcome.error:
            log.info("push job %s failed: %s", job.id, outcome.error.detail)
        else:
            log.info("push job %s succeeded: %s", job.id, outcome.digest)

    def _finish(self, job: Job, run_id: str, status: JobStatus, **fields: object) -> Job | None:
        """End the job as `status` if this run still holds it, and tell the event sink: the job
        as it ended (read in the same step), or None when it changed hands."""
        finished_at = utcnow()
        ended = self.store.end(job.id, status, run_id, finished_at=finished_at, **fields)
        if ended is None:
            log.warning("push job %s changed hands before it could end as %s", job.id, status)
            return None
        error = fields.get("error")
        error_type = error.type if isinstance(error, JobError) else None
        phases = fields.get("phases")
        ran = [p for p in phases if isinstance(p, JobPhase)] if isinstance(phases, list) else []
        count_finished(status, error_type, job.started_at, finished_at, ran)
        self._emit(f"push.{status}", ended)
        return ended

    def _emit(self, event: str, job: Job) -> None:
        """Tell the event sink; a failure there never fails the job."""
        if self.events is None:
            return
        try:
            self.events(event, job)
        except Exception:
            log.exception("push job %s: the %s event could not be emitted", job.id, event)

    def _when_available(self, job_id: str, action: Callable[[], T]) -> T:
        """Do `action`; while the job store is down, wait for it (up to the heartbeat timeout,
        after which the reconciler would take the job anyway) and try once more."""
        try:
            return action()
        except StoreUnavailable as exc:
            log.warning("push job %s: %s; waiting for it to come back", job_id, exc)
        give_up = time.monotonic() + self.settings.heartbeat_timeout
        while True:
            try:
                self.store.ping()
                break
            except StoreUnavailable:
                if time.monotonic() > give_up:
                    raise
                time.sleep(STORE_POLL)
        log.info("push job %s: the job store is back", job_id)
        return action()


def build_runner(
    settings: Settings,
    events: EventSink | None = None,
    requeue: Callable[[str], None] | None = None,
) -> JobRunner:
    """A JobRunner with its own Redis connection pool; registry clients come with its first job.
    `requeue` re-sends the message of a job handed back at shutdown."""
    return JobRunner(settings, JobStore.from_settings(settings), events=events, requeue=requeue)
