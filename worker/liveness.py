"""A worker's liveness file: a thread of the worker touches it every few seconds and the
Kubernetes liveness probe (`python -m worker.liveness`) checks its age. Redis is deliberately
not involved, so a Redis outage does not make Kubernetes restart every worker at once."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from pathlib import Path

from worker.loops import Loop

log = logging.getLogger(__name__)
TOUCH_INTERVAL = 5.0
DEFAULT_MAX_AGE = 60.0


class LivenessFile:
    """Touches `path` every `interval` seconds from a daemon thread."""

    def __init__(self, path: Path, interval: float = TOUCH_INTERVAL) -> None:
        self.path, self.interval = path, interval
        self._loop = Loop(
            "pushgate-liveness", interval, self._touch_or_say, what="liveness file", log=log
        )

    def touch(self) -> None:
        """Mark the process alive now."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()
        os.utime(self.path)

    def start(self) -> threading.Thread:
        """Touch now, then keep touching until stop()."""
        self.touch()
        return self._loop.start()

    def stop(self) -> None:
        """Stop touching (the probe then fails after its max age)."""
        self._loop.stop()

    def _touch_or_say(self) -> None:
        try:
            self.touch()
        except OSError as exc:
            print(f"pushgate liveness file {self.path}: {exc}", file=sys.stderr)


def age(path: Path) -> float | None:
    """Seconds since `path` was last touched, or None when it does not exist."""
    try:
        return max(0.0, time.time() - path.stat().st_mtime)
    except FileNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    """The probe: exit 0 when the liveness file is younger than --max-age seconds."""
    parser = argparse.ArgumentParser(prog="python -m worker.liveness", description=main.__doc__)
    parser.add_argument("path", nargs="?", default=os.environ.get("PUSHGATE_LIVENESS_FILE"))
    parser.add_argument("--max-age", type=float, default=DEFAULT_MAX_AGE)
    args = parser.parse_args(argv)
    if not args.path:
        print("no liveness file: pass a path or set PUSHGATE_LIVENESS_FILE", file=sys.stderr)
        return 2
    seconds = age(Path(args.path))
    if seconds is None or seconds > args.max_age:
        print(f"worker not alive: {args.path} last touched {seconds}s ago", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
