"""Watch a running job from a side thread: heartbeat, cancel requests, the deadline."""

from __future__ import annotations

import logging
import threading
import time

from worker.errors import DeadlineExceeded, PushCancelled, StoreUnavailable
from worker.jobs.store import JobStore
from worker.registry.progress import Progress as CopyProgress

log = logging.getLogger(__name__)


class JobMonitor:
    """Polls the store for a cancel request and beats the heartbeat; check() raises to stop a
    copy. The heartbeat ends with the job's final transition, never before (see JobStore)."""

    def __init__(
        self, store: JobStore, job_id: str, run_id: str, deadline: float, interval: float
    ) -> None:
        self.store, self.job_id, self.run_id = store, job_id, run_id
        self.deadline = deadline
        self.interval = interval
        self.cancelled = threading.Event()
        self.superseded = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"monitor-{job_id[:8]}", daemon=True)

    def __enter__(self) -> JobMonitor:
        self._thread.start()  # the claim started the heartbeat
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                state = self.store.run_state(self.job_id)
                if state.run_id is not None and state.run_id != self.run_id:
                    if not self.superseded.is_set():
                        log.warning("push job %s: taken over by run %s", self.job_id, state.run_id)
                    self.superseded.set()  # the reconciler gave the job to another worker
                    continue
                self.store.beat(self.job_id)
                if state.cancel_requested:
                    self.cancelled.set()
            except StoreUnavailable as exc:
                log.warning("job monitor for %s: %s", self.job_id, exc)
            except Exception:  # a dead monitor would stop the heartbeat of a healthy job
                log.exception("job monitor for %s", self.job_id)

    def check(self) -> None:
        """Raise PushCancelled or DeadlineExceeded when the copy must stop now."""
        if self.superseded.is_set():
            raise PushCancelled("another worker took this job over after a missed heartbeat")
        if self.cancelled.is_set():
            raise PushCancelled("cancelled by request while running")
        if time.time() > self.deadline:
            raise DeadlineExceeded("the push ran past its deadline; raise deadline_seconds")


class ProgressWriter:
    """Writes a copy's progress to the job, throttled: never once per chunk."""

    def __init__(self, store: JobStore, job_id: str, interval: float) -> None:
        self.store, self.job_id, self.interval = store, job_id, interval
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self, progress: CopyProgress, milestone: bool) -> None:
        """Listener for a copy's Progress: write when a blob completes or `interval` passed."""
        now = time.monotonic()
        gap = min(self.interval, 0.1) if milestone else self.interval
        with self._lock:
            if now - self._last < gap:
                return
            self._last = now
        self.flush(progress)

    def flush(self, progress: CopyProgress) -> None:
        """Write the current counters now."""
        try:
            self.store.update(self.job_id, progress=progress.snapshot())
        except StoreUnavailable as exc:
            log.warning("progress of job %s not written: %s", self.job_id, exc)
