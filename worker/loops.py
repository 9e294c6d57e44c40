"""The one thread loop: a daemon thread that runs a step every few seconds until stopped (the
reconciler, the webhook retry scheduler, the liveness file). A failing step is logged and the
loop goes on: a pass that fails now may work at the next."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

from worker.errors import PushgateError


class Loop:
    """Runs `step` every `interval` seconds (each wait varied by +-`jitter`, a fraction, so
    many processes do not pass in step) in a daemon thread named `name`."""

    def __init__(
        self,
        name: str,
        interval: float,
        step: Callable[[], object],
        *,
        what: str,
        log: logging.Logger,
        jitter: float = 0.0,
    ) -> None:
        self.name, self.interval, self.step, self.jitter = name, interval, step, jitter
        self.what, self.log = what, log
        self._stop = threading.Event()

    def start(self) -> threading.Thread:
        """Start the thread; the first step runs after the first wait."""
        thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """End the loop after the current step."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval * random.uniform(1 - self.jitter, 1 + self.jitter)):
            try:
                self.step()
            except PushgateError as exc:
                self.log.warning("%s pass skipped: %s", self.what, exc)
            except Exception:
                self.log.exception("%s pass failed", self.what)
