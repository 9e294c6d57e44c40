"""A worker process's shutdown request: after SIGTERM a running job gets a grace period to
finish, then goes back to the queue so another worker resumes it without waiting for the
heartbeat timeout. Set from a signal handler, read by the runner's stop check."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from worker.errors import StoreUnavailable
from worker.jobs.store import JobStore

log = logging.getLogger(__name__)


class ShutdownRequest:
    """When this process must hand its running job back; plain attributes, signal-safe."""

    def __init__(self) -> None:
        self._due: float | None = None
        self._running = 0  # jobs running in this process (several, in the threads pool)
        self._lock = threading.Lock()

    def request(self, grace: float) -> None:
        """Hand running jobs back once `grace` seconds have passed; a second request: now."""
        now = time.monotonic()
        self._due = now + max(grace, 0.0) if self._due is None else now

    def due(self) -> bool:
        """True once a running job must be handed back."""
        return self._due is not None and time.monotonic() >= self._due

    def reset(self) -> None:
        """Forget any request (a new process after fork)."""
        self._due, self._running = None, 0

    @property
    def busy(self) -> bool:
        """True while any job runs in this process."""
        return self._running > 0

    @contextmanager
    def running(self) -> Iterator[None]:
        """Count a job running in this process while the block runs."""
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1


SHUTDOWN = ShutdownRequest()


def hand_back(
    store: JobStore, job_id: str, run_id: str, requeue: Callable[[str], None] | None
) -> None:
    """Give a running job back to the queue now and re-send its message; if that cannot be
    sent, mark its heartbeat stale so the reconciler re-sends it on its next pass."""
    try:
        if not store.hand_back(job_id, run_id):
            return
    except StoreUnavailable as exc:
        log.warning("push job %s not handed back (heartbeat timeout will): %s", job_id, exc)
        return
    try:
        if requeue is None:
            raise RuntimeError("no queue to re-send the job to")
        requeue(job_id)
        log.warning("push job %s handed back to the queue: this worker is stopping", job_id)
    except Exception:
        log.exception("push job %s handed back; its message will be re-sent later", job_id)
        with contextlib.suppress(StoreUnavailable):
            store.mark_stale(job_id)
