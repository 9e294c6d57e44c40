"""Resident memory of a process tree, sampled while a test runs (from /proc, no psutil)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

MiB = 1 << 20


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def group_rss(pgid: int) -> int:
    """Bytes resident in every process of process group `pgid` (a worker and its children)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) == pgid:
                total += _rss_kib(int(entry.name))
        except (ProcessLookupError, PermissionError):
            continue
    return total * 1024


class PeakRss:
    """Samples a process group's resident memory every 50 ms until stopped; keeps the peak."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self.first = group_rss(pgid)
        self.peak = self.first
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, group_rss(self.pgid))
            self.samples += 1
