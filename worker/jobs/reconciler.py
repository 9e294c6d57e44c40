"""Find jobs whose worker died without a trace, and half-submitted jobs; set them right."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from worker.errors import JobNotFound
from worker.jobs.model import JobStatus
from worker.jobs.store import UNCONFIRMED_GRACE, JobStore
from worker.loops import Loop

log = logging.getLogger(__name__)


class Reconciler:
    """Requeues running jobs with a stale heartbeat; drops jobs whose message was never sent."""

    def __init__(
        self,
        store: JobStore,
        enqueue: Callable[[str], None],
        heartbeat_timeout: float,
        interval: float,
    ) -> None:
        self.store, self.enqueue = store, enqueue
        self.heartbeat_timeout, self.interval = heartbeat_timeout, interval

    def run_once(self) -> tuple[list[str], list[str]]:
        """One pass: (ids requeued, ids of half-submitted jobs removed)."""
        now = time.time()
        requeued = self.store.requeue_stale(now - self.heartbeat_timeout)
        for job_id in requeued:
            try:
                self.enqueue(job_id)
                log.warning(
                    "push job %s lost its worker (no heartbeat for %.0fs): requeued",
                    job_id,
                    self.heartbeat_timeout,
                )
            except Exception:
                # Leave a stale entry so the next pass tries again.
                self.store.mark_stale(job_id)
                log.exception("push job %s could not be requeued yet", job_id)
        removed = []
        for job_id in self.store.unconfirmed(now - UNCONFIRMED_GRACE):
            try:
                job = self.store.get(job_id)
            except JobNotFound:
                self.store.confirm(job_id)
                continue
            if job.status == JobStatus.QUEUED and job.attempts == 0:
                self.store.delete(job)  # the caller was told 503: this job never existed
                removed.append(job_id)
            else:
                self.store.confirm(job_id)
        return requeued, removed

    def start(self) -> threading.Thread:
        """Run passes in a daemon thread for the life of the process."""
        loop = Loop(
            "pushgate-reconciler",
            self.interval,
            self.run_once,
            what="reconciler",
            log=log,
            jitter=0.2,
        )
        return loop.start()
