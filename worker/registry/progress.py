"""Progress of one copy: blob and byte counters shared by the blob threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields

from worker.errors import PushCancelled
from worker.registry.manifests import Descriptor

Listener = Callable[["Progress", bool], None]


class StoppedByAnotherBlob(PushCancelled):
    """A blob stopped because another blob of the copy failed: a consequence, never the
    copy's error when the cause is known."""


@dataclass(frozen=True)
class ProgressCounts:
    """Blob and byte counters at one moment: what a job records as its progress."""

    blobs_total: int = 0
    blobs_done: int = 0
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    bytes_total: int = 0
    bytes_done: int = 0

    @classmethod
    def of(cls, counters: Mapping[str, int]) -> ProgressCounts:
        """The record of a stored counter mapping (unknown keys from other versions ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in counters.items() if k in known})


class Progress:
    """Counters of blobs and bytes; tells a listener on each change (the listener throttles)."""

    def __init__(self, listener: Listener | None = None) -> None:
        self._lock = threading.Lock()
        self._listener = listener
        self._aborted = False
        self.blobs_total = self.blobs_done = self.blobs_skipped = self.blobs_mounted = 0
        self.bytes_total = self.bytes_done = 0

    def snapshot(self) -> ProgressCounts:
        """The counters now, as one consistent record."""
        with self._lock:
            return ProgressCounts(
                self.blobs_total,
                self.blobs_done,
                self.blobs_skipped,
                self.blobs_mounted,
                self.bytes_total,
                self.bytes_done,
            )

    def _changed(self, milestone: bool) -> None:
        if self._listener is not None:
            self._listener(self, milestone)

    def start(self, blobs: Iterable[Descriptor]) -> None:
        """Set the totals from the blobs to copy."""
        blobs = list(blobs)
        with self._lock:
            self.blobs_total = len(blobs)
            self.bytes_total = sum(b.size for b in blobs)
            self.blobs_done = self.blobs_skipped = self.blobs_mounted = self.bytes_done = 0
        self._changed(True)

    def add_bytes(self, count: int) -> None:
        """Count bytes streamed (negative to take back a failed attempt's bytes)."""
        with self._lock:
            self.bytes_done += count
        self._changed(False)

    def blob_done(self, blob: Descriptor, counted: int) -> None:
        """Count a blob copied; `counted` is how many of its bytes were already counted."""
        with self._lock:
            self.blobs_done += 1
            self.bytes_done += blob.size - counted
        self._changed(True)

    def blob_skipped(self, blob: Descriptor, counted: int, mounted: bool = False) -> None:
        """Count a blob the target already had, or mounted from another repository."""
        with self._lock:
            self.blobs_done += 1
            self.blobs_skipped += 1
            self.blobs_mounted += int(mounted)
            self.bytes_done += blob.size - counted
        self._changed(True)

    def grow(self, blob: Descriptor) -> None:
        """Add a blob found while the copy runs (for sources that reveal blobs as they go)."""
        with self._lock:
            self.blobs_total += 1
            self.bytes_total += blob.size
        self._changed(True)

    def set_counts(self, **counts: int) -> None:
        """Overwrite counters wholesale (for sources that report totals themselves)."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, value)
        self._changed(False)

    def abort(self) -> None:
        """Tell the other blob threads to stop: one blob failed for good."""
        self._aborted = True

    def check_aborted(self) -> None:
        """Raise when another blob already failed, so no new work starts."""
        if self._aborted:
            raise StoppedByAnotherBlob("stopped: another blob of this image failed")
