"""How waiting looks: a live bar on a terminal, plain lines in CI logs, and the last line."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable
from typing import Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

MiB = 1024 * 1024


def plain(text: str) -> str:
    """`text` without control characters (a CI log shows every byte)."""
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)


def status_line(job: dict[str, Any]) -> str:
    """One line of a job's state, e.g. `running  3/5 blobs  120.0/176.0 MiB  2 skipped`."""
    progress = job.get("progress") or {}
    parts = [str(job.get("status", "?"))]
    if progress.get("blobs_total"):
        parts.append(f"{progress.get('blobs_done', 0)}/{progress['blobs_total']} blobs")
        parts.append(
            f"{progress.get('bytes_done', 0) / MiB:.1f}/{progress.get('bytes_total', 0) / MiB:.1f}"
            " MiB"
        )
        if progress.get("blobs_skipped"):
            parts.append(f"{progress['blobs_skipped']} skipped")
    return plain("  ".join(parts))


def attached_note(job: dict[str, Any]) -> str:
    """`, with 3 signatures/SBOMs` (summed over the targets), and what was left behind."""
    results = job.get("results") or []
    carried = sum(len(result.get("carried") or []) for result in results)
    behind = max((len(result.get("left_behind") or []) for result in results), default=0)
    note = f", with {carried} signatures/SBOMs" if carried else ""
    if behind:
        note += f" ({behind} left behind: made for the source index digest)"
    return note


def final_line(job: dict[str, Any]) -> str:
    """The last line: destinations and digest, or the error type and detail."""
    if job.get("status") == "succeeded":
        pushed = f"pushed {job.get('digest')} to {', '.join(job.get('destinations', []))}"
        return plain(pushed + attached_note(job))
    error = job.get("error") or {}
    kind = error.get("type", job.get("status"))
    return plain(f"{job.get('status')}: {kind}: {error.get('detail', '')}".rstrip(": "))


class Reporter(Protocol):
    """Shows a job while the command waits for it."""

    def update(self, job: dict[str, Any]) -> None:
        """Show the job's latest state."""

    def close(self) -> None:
        """Stop showing (the final line is printed by the caller)."""


class LineReporter:
    """Plain lines: one on each status change, otherwise at most one per `interval`."""

    def __init__(
        self,
        write: Callable[[str], None],
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write, self.interval, self.clock = write, interval, clock
        self._status: str | None = None
        self._printed = float("-inf")
        self._last_line = ""

    def update(self, job: dict[str, Any]) -> None:
        """Print a line when the status changed, or when `interval` passed and it moved on."""
        now = self.clock()
        line = status_line(job)
        changed = job.get("status") != self._status
        due = now - self._printed >= self.interval and line != self._last_line
        if changed or due:
            self.write(line)
            self._status, self._printed, self._last_line = job.get("status"), now, line

    def close(self) -> None:
        """Nothing to tidy up."""


class BarReporter:
    """A live progress bar of bytes and blobs on the terminal (stderr)."""

    def __init__(self, console: Console) -> None:
        self.bar = Progress(
            TextColumn("{task.description:<9}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TextColumn("{task.fields[blobs]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task: TaskID = self.bar.add_task("queued", total=None, blobs="")
        self.bar.start()

    def update(self, job: dict[str, Any]) -> None:
        """Move the bar to the job's counters."""
        progress = job.get("progress") or {}
        blobs = ""
        if progress.get("blobs_total"):
            blobs = f"{progress.get('blobs_done', 0)}/{progress['blobs_total']} blobs"
            if progress.get("blobs_skipped"):
                blobs += f" ({progress['blobs_skipped']} skipped)"
        self.bar.update(
            self.task,
            description=str(job.get("status", "")),
            total=progress.get("bytes_total") or None,
            completed=progress.get("bytes_done", 0),
            blobs=blobs,
        )
        self.bar.refresh()

    def close(self) -> None:
        """Stop the live display, leaving the last state drawn."""
        self.bar.stop()
