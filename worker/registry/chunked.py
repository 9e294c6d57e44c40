"""Resumable uploads of big blobs: long streamed PATCHes that go on where the registry stopped.

Each PATCH carries up to `chunk_size` bytes straight from the source's GET, so a big blob goes
up about as fast as one stream (every PATCH costs the registry a few fsyncs and us a round
trip, so they are few); PATCHes no longer than that survive proxies and CDNs that cut long
requests (the vendor's answers 524 near 2 GB). When a PATCH breaks, the upload's status says
how many bytes the registry holds, and a ranged read of the source sends the rest, in shorter
PATCHes for a while. Only a session the registry dropped (distribution cancels one holding
bytes its state does not know of), or bytes stored where we did not send them, start the blob
again, in a fresh session.

We do not hash the bytes ourselves: the registry checks the digest when the upload is
committed (sha256 of 1 GiB costs about 0.9 s of CPU here, a quarter of the copy), and a
refused digest starts the blob again like a dropped session.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from worker.errors import NetworkError, NotFoundError, PushError, RejectedError
from worker.registry.blobs import BlobRoute, ByteCounter, StopCheck
from worker.registry.manifests import Descriptor
from worker.registry.retry import RetryPolicy, RetryState
from worker.registry.uploads import Upload

log = logging.getLogger(__name__)
# After a broken PATCH the next ones are halved, down to this or a quarter of the chunk size
# (a bad link wastes less), and doubled again, up to the chunk size, as they land.
SMALLEST_CHUNK = 16 << 20
# Commit refusals that mean the session's bytes are wrong, not the blob: a new session helps.
_SESSION_SPOILED = ("DIGEST_INVALID", "SIZE_INVALID", "BLOB_UPLOAD_INVALID")


class UploadLost(NetworkError):
    """The registry no longer has a usable upload session: the blob must start over."""


class _Source:
    """The blob's bytes from an offset on, cut into bodies of exact lengths."""

    def __init__(self, reads: Iterator[bytes], start: int, stop: StopCheck) -> None:
        self.reads, self.position, self.stop = reads, start, stop
        self.leftover = b""

    def body(self, end: int, on_bytes: ByteCounter) -> Iterator[bytes]:
        """Yield the bytes up to `end`, counting each piece as sent."""
        while self.position < end:
            self.stop()
            data = self.leftover or next(self.reads, b"")
            if not data:
                raise NetworkError("the source ended the blob early")
            piece, self.leftover = data[: end - self.position], data[end - self.position :]
            self.position += len(piece)
            on_bytes(len(piece))
            yield piece


class ChunkedUpload:
    """One blob's resumable upload: how much the registry holds, and how much we counted."""

    def __init__(
        self,
        route: BlobRoute,
        blob: Descriptor,
        upload: Upload,
        chunk_size: int,
        on_bytes: ByteCounter,
        should_stop: StopCheck,
    ) -> None:
        self.route, self.blob = route, blob
        self.upload = upload
        self.chunk_size = max(1, chunk_size)
        self.next_chunk = self.chunk_size
        self.smallest = max(min(SMALLEST_CHUNK, self.chunk_size // 4), upload.min_chunk, 1)
        self.on_bytes, self.should_stop = on_bytes, should_stop
        self.offset = 0  # bytes the registry holds, as far as we know
        self.counted = 0  # bytes counted as done in the job's progress
        self.name = blob.digest[:19]

    def _count(self, n: int) -> None:
        self.counted += n
        self.on_bytes(n)

    def run(self, retry: RetryPolicy) -> None:
        """Upload the blob, resuming after each break; every PATCH that lands renews the budget."""
        state = retry.begin(f"uploading blob {self.name}")
        broken = False
        while state.next_attempt():
            try:
                if broken:
                    self._resync()
                self._send(state)
                self._commit()
                return
            except UploadLost as lost:
                log.warning("blob %s: %s; starting it again from byte 0", self.name, lost.detail)
                raise
            except PushError as error:
                broken = True
                self.next_chunk = max(self.smallest, self.next_chunk // 2)
                state.failed(error)
        raise state.give_up()

    def _resync(self) -> None:
        """Ask the registry how many bytes it holds and go on from there."""
        try:
            held = self.upload.held(f"reading upload status of blob {self.name}")
        except (NotFoundError, RejectedError) as exc:
            raise UploadLost(f"the registry dropped the upload ({exc.detail})") from None
        if held > self.blob.size:
            raise UploadLost(f"the registry holds {held} bytes of a {self.blob.size}-byte blob")
        if held < self.upload.acknowledged:
            log.warning(
                "blob %s: the registry holds %d bytes after acknowledging %d; resuming at %d",
                self.name,
                held,
                self.upload.acknowledged,
                held,
            )
        self.offset = held
        self._count(held - self.counted)  # what was in flight when the PATCH broke

    def _send(self, state: RetryState) -> None:
        if self.offset >= self.blob.size:
            return
        with self.route.source.open_blob(self.blob.digest, self.offset) as reads:
            source = _Source(reads, self.offset, self.should_stop)
            while self.offset < self.blob.size:
                end = min(self.offset + self.next_chunk, self.blob.size)
                held = self.upload.patch(
                    source.body(end, self._count),
                    what=f"uploading bytes {self.offset}-{end - 1} of blob {self.name}",
                    span=(self.offset, end),
                    take_slot=not self.route.same_host,
                )
                if held != end:
                    raise UploadLost(
                        f"the registry stored bytes {self.offset}-{end - 1} so that it holds "
                        f"{held} bytes, not {end}"
                    )
                self.offset = end
                self.next_chunk = min(self.chunk_size, self.next_chunk * 2)
                state.progress()

    def _commit(self) -> None:
        try:
            self.upload.commit(self.blob.digest, what=f"committing blob {self.name}")
        except NotFoundError as exc:
            raise UploadLost(f"the registry dropped the upload at commit ({exc.detail})") from None
        except RejectedError as exc:
            if not any(code in exc.detail for code in _SESSION_SPOILED):
                raise
            raise UploadLost(
                f"the registry refused the upload's bytes, corrupted on the way ({exc.detail})"
            ) from None
