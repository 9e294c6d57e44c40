"""Run one push job: claim it, copy the image, record the outcome. No Celery in here."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from typing import Any

from worker.daemon.export import push_by_export
from worker.daemon.source import DaemonSource, push_with_sdk
from worker.errors import (
    InternalError,
    JobNotFound,
    PushCancelled,
    PushError,
    StoreUnavailable,
)
from worker.jobs.ledger import BlobLedger, RedisHash
from worker.jobs.model import Job, JobStatus, utcnow
from worker.jobs.monitor import JobMonitor, ProgressWriter
from worker.jobs.shutdown import SHUTDOWN
from worker.jobs.store import PREFIX, RUNNING_KEY, JobStore
from worker.redaction import install_log_redaction, redact
from worker.redisconn import redis_client
from worker.reference import (
    Reference,
    daemon_name,
    is_daemon_source,
    parse_daemon_source,
    parse_reference,
)
from worker.registry.copier import CopyEngine, CopyOptions, CopyResult
from worker.registry.progress import Progress
from worker.settings import Settings

log = logging.getLogger(__name__)


def error_record(error: PushError) -> dict[str, str]:
    """The job's `error` object for a push error, with secrets redacted."""
    return {"type": error.type, "title": error.title, "detail": redact(error.detail)}


class JobRunner:
    """Runs push jobs with one engine; shared by every task a worker process executes."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        engine: CopyEngine,
        requeue: Callable[[str], None] | None = None,
    ) -> None:
        self.settings, self.store, self.engine = settings, store, engine
        self.requeue = requeue  # re-sends a job's message when it is handed back
        self.ledger = BlobLedger(store.redis)
        self.daemon = DaemonSource(settings.docker_host)
        self.gzip_cache = RedisHash(store.redis, f"{PREFIX}:gzip-of-layer")

    def run(self, job_id: str) -> Job | None:
        """Run the job to an end state; returns it, or None when it no longer exists."""
        run_id = uuid.uuid4().hex
        stale_before = time.time() - self.settings.heartbeat_timeout
        try:
            claimed = self.store.claim(job_id, run_id, stale_before)
            job = self.store.get(job_id)
        except JobNotFound:
            log.warning("push job %s has no record (expired?): nothing to do", job_id)
            return None
        if not claimed:
            log.info(
                "push job %s is %s and not ours: duplicate delivery ignored", job_id, job.status
            )
            return job
        if job.attempts > self.settings.max_attempts:
            last = (job.error or {}).get("detail") or "the worker running it was lost"
            self._finish(
                job,
                run_id,
                JobStatus.FAILED,
                error={
                    "type": "internal",
                    "title": "Too many attempts",
                    "detail": f"gave up after {job.attempts - 1} attempts; last: {last}",
                },
            )
            return self.store.get(job_id)
        if job.started_at is None:
            job.started_at = utcnow()
            self.store.transition(
                job_id,
                [JobStatus.RUNNING],
                JobStatus.RUNNING,
                run_id=run_id,
                started_at=job.started_at,
            )
        log.info(
            "push job %s: %s -> %s (attempt %d)",
            job_id,
            job.source,
            ", ".join(job.destinations),
            job.attempts,
        )
        with SHUTDOWN.running():
            self._copy(job, run_id)
        return self.store.get(job_id)

    def _copy(self, job: Job, run_id: str) -> None:
        started = time.time() if job.started_at is None else _epoch(job.started_at)
        writer = ProgressWriter(self.store, job.id, self.settings.progress_interval)
        progress = Progress(writer)
        poll = min(0.5, self.settings.heartbeat_interval)
        monitor = JobMonitor(self.store, job.id, run_id, started + job.deadline_seconds, poll)
        retries_before = self.engine.retry.stats.retries

        def check() -> None:
            if SHUTDOWN.due():
                raise PushCancelled("the worker is shutting down: the job goes back to the queue")
            monitor.check()

        def finish(status: JobStatus, **fields: Any) -> None:
            retries = job.retries + self.engine.retry.stats.retries - retries_before
            self._finish(
                job, run_id, status, progress=progress.snapshot(), retries=retries, **fields
            )

        try:
            with monitor:
                check()
                dests = [parse_reference(d) for d in job.destinations]
                if is_daemon_source(job.source):
                    result = self._push_daemon(job, dests, progress, check)
                else:
                    options = CopyOptions(
                        attestations=job.attestations,
                        platforms=tuple(job.platforms),
                        mount_lookup=partial(self.ledger.holders, job.app_slug),
                    )
                    result = self.engine.copy(
                        parse_reference(job.source),
                        dests,
                        options=options,
                        progress=progress,
                        should_stop=check,
                    )
        except PushCancelled as exc:
            if monitor.superseded.is_set():
                log.warning("push job %s: %s", job.id, exc.detail)
                return
            if SHUTDOWN.due() and not monitor.cancelled.is_set():
                self._hand_back(job, run_id)
                return
            status = JobStatus.CANCELLED if monitor.cancelled.is_set() else JobStatus.FAILED
            finish(status, error=error_record(exc))
            return
        except PushError as exc:
            log.info("push job %s failed: %s: %s", job.id, exc.type, redact(exc.detail))
            finish(JobStatus.FAILED, error=error_record(exc))
            return
        except Exception as exc:
            log.exception("push job %s crashed", job.id)
            internal = InternalError(f"pushgate failed unexpectedly: {type(exc).__name__}")
            finish(JobStatus.FAILED, error=error_record(internal))
            return
        self._persist(lambda: self.ledger.record(job.app_slug, dests[0].repository, result.blobs))
        finish(
            JobStatus.SUCCEEDED,
            source_digest=result.source_digest,
            digest=result.digest,
            served=result.served,
            removed=result.removed,
            error=None,
        )
        log.info("push job %s succeeded: %s", job.id, result.digest)

    def _push_daemon(
        self, job: Job, dests: list[Reference], progress: Progress, should_stop: Callable[[], None]
    ) -> CopyResult:
        name = daemon_name(parse_daemon_source(job.source))
        if self.settings.daemon_push == "sdk":

            def tag_lock(tag: str) -> AbstractContextManager[Any]:
                lock: AbstractContextManager[Any] = self.store.redis.lock(
                    f"{PREFIX}:daemon-tag:{tag}",
                    timeout=job.deadline_seconds,
                    blocking_timeout=job.deadline_seconds,
                )
                return lock

            return push_with_sdk(
                self.daemon,
                name,
                dests,
                self.engine,
                self.engine.target_credentials,
                progress,
                should_stop,
                tag_lock,
            )
        return push_by_export(
            self.daemon, name, dests, self.engine, progress, should_stop, self.gzip_cache
        )

    def _hand_back(self, job: Job, run_id: str) -> None:
        try:
            if not self.store.hand_back(job.id, run_id):
                return
        except PushError as exc:
            log.warning("push job %s not handed back (heartbeat timeout will): %s", job.id, exc)
            return
        try:
            if self.requeue is None:
                raise RuntimeError("no queue to re-send the job to")
            self.requeue(job.id)
            log.warning("push job %s handed back to the queue: this worker is stopping", job.id)
        except Exception:
            # A stale heartbeat entry makes the reconciler re-send it.
            self.store.redis.zadd(RUNNING_KEY, {job.id: 0})
            log.exception("push job %s handed back; its message will be re-sent later", job.id)

    def _persist(self, write: Callable[[], Any]) -> Any:
        """Run a store write, retrying while Redis is unreachable (a Sentinel failover takes
        seconds): the outcome of a finished copy is not thrown away for a brief outage."""
        deadline = time.monotonic() + self.settings.heartbeat_timeout
        delay = 0.2
        while True:
            try:
                with self.store.unavailable():
                    return write()
            except StoreUnavailable:
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _finish(self, job: Job, run_id: str, status: JobStatus, **fields: Any) -> None:
        if not self._persist(
            lambda: self.store.transition(
                job.id, [JobStatus.RUNNING], status, run_id=run_id, finished_at=utcnow(), **fields
            )
        ):
            log.warning("push job %s changed hands before it could end as %s", job.id, status)


def _epoch(timestamp: str) -> float:
    return dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


# -- the one runner of a worker process, built lazily after fork from the environment --

_lock = threading.Lock()
_runner: JobRunner | None = None


def build_runner(settings: Settings, requeue: Callable[[str], None] | None = None) -> JobRunner:
    """A JobRunner with its own Redis connection pool and registry clients."""
    store = JobStore(redis_client(settings), settings.job_retention)
    return JobRunner(settings, store, CopyEngine.from_settings(settings), requeue)


def process_runner(requeue: Callable[[str], None] | None = None) -> JobRunner:
    """This process's JobRunner, created on first use; `requeue` re-sends handed-back jobs."""
    global _runner
    with _lock:
        if _runner is None:
            settings = Settings.from_env()
            logging.getLogger().setLevel(settings.log_level)
            _runner = build_runner(settings, requeue)
            install_log_redaction()
        return _runner


def forget_process_runner() -> None:
    """Forget this process's runner (after fork: connections must not be shared)."""
    global _runner
    with _lock:
        _runner = None
