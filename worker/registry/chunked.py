"""Resumable uploads of big blobs: long streamed PATCHes that go on where the registry stopped.

Each PATCH carries up to `chunk_size` bytes straight from the source's GET, so a big blob goes
up about as fast as one stream (every PATCH costs the registry a few fsyncs and us a round
trip, so they are few); PATCHes no longer than that survive proxies and CDNs that cut long
requests (the vendor's answers 524 near 2 GB). When a PATCH breaks, the upload's status says
how many bytes the registry holds: we hash the source up to there (a ranged read from the
nearest hash snapshot) and send the rest, in shorter PATCHes for a while. Only a session the
registry dropped (distribution cancels one that holds bytes its state does not know of), or
bytes stored where we did not send them, start the blob again, in a fresh session.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from typing import Any

from worker.errors import NetworkError, NotFoundError, PushError, RejectedError
from worker.registry.blobs import BlobRoute, ByteCounter, StopCheck
from worker.registry.manifests import Descriptor
from worker.registry.retry import RetryPolicy, RetryState
from worker.registry.uploads import Upload

log = logging.getLogger(__name__)
# How often the running hash is copied aside: a resume re-reads (never re-sends) at most this.
SNAPSHOT_EVERY = 32 << 20
# After a broken PATCH the next ones are halved, down to this or a quarter of the chunk size
# (a bad link wastes less), and doubled again, up to the chunk size, as they land.
SMALLEST_CHUNK = 16 << 20
# Commit refusals that mean the session's bytes are wrong, not the blob: a new session helps.
_SESSION_SPOILED = ("DIGEST_INVALID", "SIZE_INVALID", "BLOB_UPLOAD_INVALID")


class UploadLost(NetworkError):
    """The registry no longer has a usable upload session: the blob must start over."""


class _Hashes:
    """sha256 states of the blob's first bytes at several offsets: a resume starts anywhere."""

    def __init__(self) -> None:
        self.states: dict[int, Any] = {0: hashlib.sha256()}

    def keep(self, offset: int, hasher: Any) -> None:
        """Remember the hash of the first `offset` bytes."""
        self.states[offset] = hasher.copy()

    def at_or_below(self, offset: int) -> tuple[int, Any]:
        """The nearest remembered (offset, hash) at or below `offset`."""
        best = max(o for o in self.states if o <= offset)
        return best, self.states[best].copy()


class _Source:
    """The blob's bytes from a start offset on, hashed, cut into bodies of exact lengths."""

    def __init__(
        self, reads: Iterator[bytes], start: int, hasher: Any, hashes: _Hashes, stop: StopCheck
    ) -> None:
        self.reads, self.position, self.hasher = reads, start, hasher
        self.hashes, self.stop = hashes, stop
        self.leftover = b""

    def _next(self, limit: int) -> bytes:
        self.stop()
        data = self.leftover or next(self.reads, b"")
        if not data:
            raise NetworkError("the source ended the blob early")
        # Never cross a snapshot boundary in one piece, so snapshots land on exact offsets.
        boundary = (self.position // SNAPSHOT_EVERY + 1) * SNAPSHOT_EVERY
        piece = data[: min(limit, boundary - self.position)]
        self.leftover = data[len(piece) :]
        self.hasher.update(piece)
        self.position += len(piece)
        if self.position % SNAPSHOT_EVERY == 0:
            self.hashes.keep(self.position, self.hasher)
        return piece

    def skip_to(self, offset: int) -> None:
        """Hash the bytes up to `offset` without sending them (the registry holds them)."""
        while self.position < offset:
            self._next(offset - self.position)

    def body(self, end: int, on_bytes: ByteCounter) -> Iterator[bytes]:
        """Yield the bytes up to `end`, counting each piece as sent."""
        while self.position < end:
            piece = self._next(end - self.position)
            on_bytes(len(piece))
            yield piece


class ChunkedUpload:
    """One blob's resumable upload: what the registry holds, and our hash of the source."""

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
        self.hashes = _Hashes()
        self.digest = ""
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
            self.digest = self.digest or self._hash_only()
            return
        start, hasher = self.hashes.at_or_below(self.offset)
        with self.route.source.open_blob(self.blob.digest, start) as reads:
            source = _Source(reads, start, hasher, self.hashes, self.should_stop)
            source.skip_to(self.offset)
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
                self.hashes.keep(end, source.hasher)
                self.next_chunk = min(self.chunk_size, self.next_chunk * 2)
                state.progress()
            self.digest = "sha256:" + source.hasher.hexdigest()

    def _hash_only(self) -> str:
        """The digest of the whole source blob (the registry already holds all of it)."""
        start, hasher = self.hashes.at_or_below(self.blob.size)
        if start < self.blob.size:
            with self.route.source.open_blob(self.blob.digest, start) as reads:
                _Source(reads, start, hasher, self.hashes, self.should_stop).skip_to(self.blob.size)
        return "sha256:" + str(hasher.hexdigest())

    def _commit(self) -> None:
        if self.digest != self.blob.digest:  # the registry holds those bytes too: start over
            raise UploadLost(
                f"the source sent bytes with digest {self.digest[:19]} for blob {self.name}: "
                "the stream was corrupted"
            )
        try:
            self.upload.commit(self.blob.digest, what=f"committing blob {self.name}")
        except NotFoundError as exc:
            raise UploadLost(f"the registry dropped the upload at commit ({exc.detail})") from None
        except RejectedError as exc:
            if not any(code in exc.detail for code in _SESSION_SPOILED):
                raise
            raise UploadLost(f"the registry refused the upload's bytes ({exc.detail})") from None
