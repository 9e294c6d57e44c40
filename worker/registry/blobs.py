"""Blob transfer: the route a blob takes, and streaming one blob into an open upload."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from worker.errors import NetworkError
from worker.registry.manifests import Descriptor
from worker.registry.repository import Repository
from worker.registry.uploads import Upload

log = logging.getLogger(__name__)
StopCheck = Callable[[], None]
ByteCounter = Callable[[int], None]


@dataclass(frozen=True)
class BlobRoute:
    """Where one blob comes from and goes to."""

    source: Repository
    destination: Repository

    @property
    def same_host(self) -> bool:
        """True when source and destination are one registry (a copy then needs one slot, not
        two)."""
        return self.source.client is self.destination.client


def verified_chunks(
    reads: Iterator[bytes], blob: Descriptor, on_bytes: ByteCounter, should_stop: StopCheck
) -> Iterator[bytes]:
    """Yield the blob's bytes, holding back the last read until size and sha256 are checked.

    Each read is passed on as it arrives (only the last waits), so a stream holds one read
    buffer, whatever the blob's size.
    """
    hasher = hashlib.sha256()
    received = 0
    last = b""
    for chunk in reads:
        should_stop()
        hasher.update(chunk)
        received += len(chunk)
        if received > blob.size:
            break
        if received < blob.size:
            yield chunk
            on_bytes(len(chunk))
        else:
            last = chunk
    actual = "sha256:" + hasher.hexdigest()
    if received != blob.size or actual != blob.digest:
        raise NetworkError(
            f"the source sent {received if received <= blob.size else 'more'} bytes with "
            f"digest {actual[:19]} for blob {blob.digest[:19]} of {blob.size} bytes: the "
            "stream was corrupted or cut"
        )
    if last:
        yield last
        on_bytes(len(last))


def stream_blob(
    route: BlobRoute,
    blob: Descriptor,
    upload: Upload,
    on_bytes: ByteCounter,
    should_stop: StopCheck,
) -> None:
    """Stream one blob from the source GET into `upload`, committing it in the same PUT.

    A PUT that breaks cannot resume: the caller starts the blob again in a new session, and
    the log says so when bytes were already sent.
    """
    sent = 0

    def count(n: int) -> None:
        nonlocal sent
        sent += n
        on_bytes(n)

    try:
        with route.source.open_blob(blob.digest) as reads:
            upload.commit(
                blob.digest,
                verified_chunks(reads, blob, count, should_stop),
                what=f"uploading blob {blob.digest[:19]} to {route.destination.name}",
                length=blob.size,
                take_slot=not route.same_host,
            )
    except NetworkError as error:
        if sent:
            log.warning(
                "blob %s: the upload broke after %d of %d bytes (%s); starting it again from "
                "byte 0",
                blob.digest[:19],
                sent,
                blob.size,
                error.detail,
            )
        raise
