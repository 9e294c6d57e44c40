"""A worker process's shutdown request: after SIGTERM a running job gets a grace period to
finish, then goes back to the queue so another worker resumes it without waiting for the
heartbeat timeout. Set from a signal handler, read by the runner's stop check."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class ShutdownRequest:
    """When this process must hand its running job back; plain attributes, signal-safe."""

    def __init__(self) -> None:
        self._due: float | None = None
        self.busy = False

    def request(self, grace: float) -> None:
        """Hand running jobs back once `grace` seconds have passed; a second request: now."""
        now = time.monotonic()
        self._due = now + max(grace, 0.0) if self._due is None else now

    def due(self) -> bool:
        """True once a running job must be handed back."""
        return self._due is not None and time.monotonic() >= self._due

    def reset(self) -> None:
        """Forget any request (a new process after fork)."""
        self._due, self.busy = None, False

    @contextmanager
    def running(self) -> Iterator[None]:
        """Mark this process busy with a job while the block runs."""
        self.busy = True
        try:
            yield
        finally:
            self.busy = False


SHUTDOWN = ShutdownRequest()
