"""A running job's heartbeat: a side thread that beats it in the store and, on each beat, reads
whether the job was cancelled or taken over; the copy asks `check()` whether to stop."""

from __future__ import annotations

import logging
import threading
import time

from worker.errors import DeadlineExceeded, PushCancelled, StoreUnavailable
from worker.jobs.store import JobStore

log = logging.getLogger(__name__)


class JobHeartbeat:
    """Beats the job's heartbeat and polls the store for a cancel request or a takeover;
    check() raises to stop a copy (also past the deadline). The heartbeat ends with the job's
    final transition, never before (see JobStore)."""

    def __init__(
        self, store: JobStore, job_id: str, run_id: str, deadline: float, interval: float
    ) -> None:
        self.store, self.job_id, self.run_id = store, job_id, run_id
        self.deadline = deadline
        self.interval = interval
        self.cancelled = threading.Event()
        self.superseded = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{job_id[:8]}", daemon=True
        )

    def __enter__(self) -> JobHeartbeat:
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
                log.warning("job heartbeat for %s: %s", self.job_id, exc)
            except Exception:  # a dead thread would stop the heartbeat of a healthy job
                log.exception("job heartbeat for %s", self.job_id)

    def check(self) -> None:
        """Raise PushCancelled or DeadlineExceeded when the copy must stop now."""
        if self.superseded.is_set():
            raise PushCancelled("another worker took this job over after a missed heartbeat")
        if self.cancelled.is_set():
            raise PushCancelled("cancelled by request while running")
        if time.time() > self.deadline:
            raise DeadlineExceeded("the push ran past its deadline; raise deadline_seconds")
