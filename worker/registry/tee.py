"""One source read of a blob streamed into several uploads at once, never held in memory whole.

The reading thread hands each verified chunk to every branch's small bounded queue; each branch
streams its queue into its own upload in its own thread. A branch that fails is dropped and the
others go on; the caller retries the dropped ones on their own.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from worker.errors import InternalError, PushCancelled, PushError
from worker.registry.blobs import ByteCounter, StopCheck, verified_chunks
from worker.registry.manifests import Descriptor
from worker.registry.repository import Repository
from worker.registry.uploads import Upload

# Reads (up to 64 KiB each) waiting per branch: 4 MiB at most, what a slow destination holds back.
QUEUE_DEPTH = 64
_PUT_WAIT = 0.2
_END = b""


@dataclass
class TeeBranch:
    """One destination of a teed blob: its open upload, where it goes, and its byte counter."""

    upload: Upload
    where: str
    on_bytes: ByteCounter
    counted: int = 0
    error: PushError | None = None
    _queue: queue.Queue[bytes | PushError] = field(default_factory=lambda: queue.Queue(QUEUE_DEPTH))
    _finished: threading.Event = field(default_factory=threading.Event)

    @property
    def alive(self) -> bool:
        """True while the branch's upload still takes bytes."""
        return not self._finished.is_set()

    def feed(self, item: bytes | PushError) -> None:
        """Queue a chunk (b"" ends the blob, an error aborts it); dropped once the branch ended."""
        while self.alive:
            try:
                self._queue.put(item, timeout=_PUT_WAIT)
                return
            except queue.Full:
                continue

    def _chunks(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if isinstance(item, PushError):
                raise item
            if item == _END:
                return
            yield item
            self.counted += len(item)
            self.on_bytes(len(item))

    def run(self, blob: Descriptor) -> None:
        """Stream the queued chunks into the upload and commit it (in the branch's thread)."""
        try:
            self.upload.commit(
                blob.digest,
                self._chunks(),
                what=f"uploading blob {blob.digest[:19]} to {self.where}",
                length=blob.size,
                # Several uploads per source read: taking host slots here could deadlock with
                # the reads that feed them; copy_concurrency bounds these requests instead.
                take_slot=False,
            )
        except PushError as error:
            self.error = error
        except Exception as exc:
            self.error = InternalError(f"uploading to {self.where} failed: {type(exc).__name__}")
        finally:
            self._finished.set()


def tee_blob(
    source: Repository,
    blob: Descriptor,
    branches: Sequence[TeeBranch],
    should_stop: StopCheck,
) -> None:
    """Read `blob` from `source` once and upload it through every branch; each branch's
    `error` says whether its upload failed. Cancellation stops all branches and is raised."""
    threads = [
        threading.Thread(
            target=contextvars.copy_context().run,
            args=(branch.run, blob),
            name=f"tee-{i}",
            daemon=True,
        )
        for i, branch in enumerate(branches)
    ]
    for thread in threads:
        thread.start()
    try:
        with source.open_blob(blob.digest) as reads:
            for chunk in verified_chunks(reads, blob, lambda _: None, should_stop):
                live = [branch for branch in branches if branch.alive]
                if not live:
                    break
                for branch in live:
                    branch.feed(chunk)
        for branch in branches:
            branch.feed(_END)
    except BaseException as exc:
        # No branch may commit a blob the source did not finish; each gets the error.
        abort = exc if isinstance(exc, PushError) else InternalError("reading the source failed")
        for branch in branches:
            branch.feed(abort)
        if isinstance(exc, PushCancelled) or not isinstance(exc, PushError):
            raise
    finally:
        for thread in threads:
            thread.join()
