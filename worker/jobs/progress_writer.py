"""A copy's progress written into its job record, throttled: never once per chunk."""

from __future__ import annotations

import logging
import threading
import time

from worker.errors import StoreUnavailable
from worker.jobs.store import JobStore
from worker.registry.progress import Progress as CopyProgress

log = logging.getLogger(__name__)


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
