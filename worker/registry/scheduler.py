"""Blob scheduling: the blob streams of every job in a worker process share one set of slots.

A job copies up to `per_job` blobs at once, but a blob's bytes only flow while it holds a
stream slot. Slots go to the waiting job that holds the fewest (then to the longest waiter), so
a 40-layer job cannot take every slot while others wait, and memory is bounded by the number of
slots (one fixed read buffer each), not by the number of jobs or the size of their layers.
"""

from __future__ import annotations

import contextvars
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from worker.errors import PushCancelled, PushError
from worker.registry.blobs import BlobRoute, stream_blob
from worker.registry.chunked import ChunkedUpload
from worker.registry.manifests import Descriptor
from worker.registry.progress import Progress, StoppedByAnotherBlob
from worker.registry.repository import Mounted
from worker.registry.retry import RetryPolicy
from worker.registry.uploads import Upload

T = TypeVar("T")
StopCheck = Callable[[], None]
_POLL = 0.2  # how often a waiting blob checks its job's stop (cancel, deadline)


class StreamSlots:
    """A counting semaphore that hands free slots to the owner holding the fewest."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._free = self.size
        self._held: dict[object, int] = {}  # owners holding slots now (never grows past them)
        self._waiting: dict[int, object] = {}  # ticket -> owner, in arrival order
        self._tickets = itertools.count()
        self._cond = threading.Condition()

    def _next_ticket(self) -> int | None:
        """The ticket that gets the next free slot: fewest slots held, then oldest."""
        if not self._waiting:
            return None
        return min(self._waiting, key=lambda t: (self._held.get(self._waiting[t], 0), t))

    @contextmanager
    def hold(self, owner: object, should_stop: StopCheck) -> Iterator[None]:
        """Hold one slot for `owner` (e.g. one job's copy) while the block runs."""
        with self._cond:
            ticket = next(self._tickets)
            self._waiting[ticket] = owner
            try:
                while not (self._free > 0 and self._next_ticket() == ticket):
                    self._cond.wait(_POLL)
                    should_stop()
            finally:
                del self._waiting[ticket]
                self._cond.notify_all()  # the next in line may be another waiter now
            self._free -= 1
            self._held[owner] = self._held.get(owner, 0) + 1
        try:
            yield
        finally:
            with self._cond:
                self._free += 1
                left = self._held[owner] - 1
                if left:
                    self._held[owner] = left
                else:
                    del self._held[owner]
                self._cond.notify_all()

    def in_use(self) -> int:
        """How many slots are held now."""
        with self._cond:
            return self.size - self._free


def run_all(
    tasks: Sequence[Callable[[], T]], per_job: int, on_failure: Callable[[], None]
) -> list[T]:
    """Run one job's blob tasks, `per_job` at once, each in a copy of the caller's context
    (its stop check, retry counter, log context). On the first failure `on_failure` tells the
    others to stop; the first real error (not a stop it caused) is raised."""
    if not tasks:
        return []
    workers = max(1, min(per_job, len(tasks)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="blob") as pool:
        futures: list[Future[T]] = [
            pool.submit(contextvars.copy_context().run, task) for task in tasks
        ]
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        if pending:
            on_failure()
            for future in pending:
                future.cancel()
            wait(pending)
    errors = [e for f in futures if not f.cancelled() and (e := f.exception())]
    if errors:
        # A real error first, then the job's own stop, and a stop the first failure caused last.
        errors.sort(
            key=lambda e: (isinstance(e, PushCancelled), isinstance(e, StoppedByAnotherBlob))
        )
        raise errors[0]
    return [f.result() for f in futures]


@dataclass(frozen=True)
class BlobTransfer:
    """How one engine moves blobs: its retry policy, the process's stream slots, when a blob
    goes up in chunks (and how big), and how many blobs of one job are copied at once."""

    retry: RetryPolicy
    streams: StreamSlots
    chunk_threshold: int
    chunk_size: int
    per_job: int


def copy_blob(
    transfer: BlobTransfer,
    route: BlobRoute,
    blob: Descriptor,
    holder: str | None,
    progress: Progress,
    should_stop: StopCheck,
) -> str:
    """Copy one blob unless the destination has it or can mount it from `holder`; retried
    whole. Returns "skipped", "mounted" or "copied"."""

    def stop() -> None:
        progress.check_aborted()
        should_stop()

    state = transfer.retry.begin(f"copying blob {blob.digest[:19]}")
    while state.next_attempt():
        stop()
        counted = 0
        upload: Upload | None = None

        def count(n: int) -> None:
            nonlocal counted
            counted += n
            progress.add_bytes(n)

        try:
            if route.destination.has_blob(blob.digest):
                progress.blob_skipped(blob, counted)
                return "skipped"
            opened = route.destination.mount_or_start(blob.digest, [holder] if holder else [])
            if isinstance(opened, Mounted):
                progress.blob_skipped(blob, counted, mounted=True)
                return "mounted"
            upload = opened
            # The bytes flow only while this job holds one of the process's stream slots.
            with transfer.streams.hold(progress, stop):
                if blob.size > transfer.chunk_threshold:
                    chunk = max(transfer.chunk_size, upload.min_chunk)
                    ChunkedUpload(route, blob, upload, chunk, count, stop).run(transfer.retry)
                else:
                    stream_blob(route, blob, upload, count, stop)
            progress.blob_done(blob, counted)
            return "copied"
        except PushError as error:
            progress.add_bytes(-counted)
            if upload is not None:
                upload.cancel()
            state.failed(error)
    raise state.give_up()
