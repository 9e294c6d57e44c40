"""Resumable chunked uploads: PATCH with Content-Range, resume at the offset the registry holds.

Short requests survive proxies and CDNs that cut long ones (the vendor's answers 524 to layers
near 2 GB). After a failure we ask the registry how much it has and go on from there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from worker.errors import NetworkError, NotFoundError, PushError, RejectedError
from worker.registry.blobs import BlobRoute, ByteCounter, StopCheck
from worker.registry.manifests import Descriptor
from worker.registry.retry import RetryPolicy
from worker.registry.uploads import Upload


class UploadLost(NetworkError):
    """The registry no longer has a usable upload session: the blob must start over."""


class _Reader:
    """Cuts a stream of source reads into chunks of exact lengths."""

    def __init__(self, reads: Iterator[bytes]) -> None:
        self.reads = reads
        self.leftover = b""
        self.sent = 0

    def take(
        self, length: int, hasher: Any, on_bytes: ByteCounter, should_stop: StopCheck
    ) -> Iterator[bytes]:
        """Yield exactly `length` bytes, hashing and counting them."""
        self.sent = 0
        remaining = length
        while remaining > 0:
            should_stop()
            data = self.leftover or next(self.reads, b"")
            if not data:
                raise NetworkError("the source ended the blob early")
            piece, self.leftover = data[:remaining], data[remaining:]
            hasher.update(piece)
            remaining -= len(piece)
            self.sent += len(piece)
            on_bytes(len(piece))
            yield piece


class ChunkedUpload:
    """One blob's chunked upload: the registry's location and offset, and our hash up to it."""

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
        self.chunk_size = chunk_size
        self.on_bytes, self.should_stop = on_bytes, should_stop
        self.offset = 0
        self.hasher = hashlib.sha256()

    def run(self, retry: RetryPolicy) -> None:
        """Upload every chunk, resuming after transient failures, then commit with the digest."""
        state = retry.begin(f"chunked upload of blob {self.blob.digest[:19]}")
        while state.next_attempt():
            try:
                if state.tries > 1:
                    self._resync()
                self._send_chunks()
                self._commit()
                return
            except UploadLost:
                raise
            except PushError as error:
                state.failed(error)
        raise state.give_up()

    def _resync(self) -> None:
        """Ask the registry how many bytes it holds and continue from there."""
        try:
            held = self.upload.held(f"reading upload status of blob {self.blob.digest[:19]}")
        except (NotFoundError, RejectedError) as exc:
            raise UploadLost(
                f"the registry dropped the upload ({exc.detail}); starting the blob again"
            ) from None
        if held < self.offset:
            raise UploadLost(f"the registry lost part of upload {self.blob.digest[:19]}")
        if held > self.offset:  # a chunk landed though its answer was lost: hash it too
            self._hash_range(self.offset, held)
        self.offset = held

    def _hash_range(self, start: int, end: int) -> None:
        with self.route.source.open_blob(self.blob.digest, start) as reads:
            remaining = end - start
            for data in reads:
                self.hasher.update(data[:remaining])
                remaining -= len(data)
                if remaining <= 0:
                    break

    def _send_chunks(self) -> None:
        if self.offset >= self.blob.size:
            return
        with self.route.source.open_blob(self.blob.digest, self.offset) as reads:
            reader = _Reader(reads)
            while self.offset < self.blob.size:
                end = min(self.offset + self.chunk_size, self.blob.size)
                hasher = self.hasher.copy()
                body = reader.take(end - self.offset, hasher, self.on_bytes, self.should_stop)
                try:
                    self.upload.patch(
                        body,
                        what=f"uploading bytes {self.offset}-{end - 1} of blob "
                        f"{self.blob.digest[:19]}",
                        span=(self.offset, end),
                        take_slot=not self.route.same_host,
                    )
                except PushError:
                    self.on_bytes(-reader.sent)
                    raise
                self.hasher, self.offset = hasher, end

    def _commit(self) -> None:
        actual = "sha256:" + self.hasher.hexdigest()
        if actual != self.blob.digest:
            raise NetworkError(
                f"the source sent bytes with digest {actual[:19]} for blob "
                f"{self.blob.digest[:19]}: the stream was corrupted"
            )
        try:
            self.upload.commit(self.blob.digest, what=f"committing blob {self.blob.digest[:19]}")
        except NotFoundError:
            raise NetworkError(f"the upload of blob {self.blob.digest[:19]} expired") from None
