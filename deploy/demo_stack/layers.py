"""Real gzip layers, cheap to make: random bytes in stored (uncompressed) deflate blocks.

A layer of raw random bytes labelled `tar+gzip` is not a gzip stream, and a copier that checks
(skopeo) compresses it before pushing, changing its digest and spending CPU that pushgate does
not: benchmarks on such layers flatter pushgate. Stored blocks make a valid gzip stream at the
cost of a memory copy, and random contents keep it incompressible for anyone who recompresses.
A layer of `size` bytes is exactly `size` bytes long (the gzip header's extra field takes up
the difference), so tests can still reason about ranges and offsets in it.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

BLOCK = 65535  # the largest stored deflate block
PIECE = BLOCK * 16  # ~1 MiB of random bytes generated at a time
_HEADER = (
    b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # gzip, deflate, no name, no mtime, OS unknown
)


SMALLEST = 64  # below this a layer is raw random bytes (too small to hold a gzip stream)


def gzip_size(size: int) -> int:
    """Length of the stored-block gzip stream of `size` uncompressed bytes, with no extra."""
    blocks = max(1, -(-size // BLOCK))
    return len(_HEADER) + size + 5 * blocks + 8


def plan(size: int) -> tuple[int, int]:
    """(uncompressed bytes, extra field bytes) of a gzip stream exactly `size` bytes long:
    the extra field is empty or holds one subfield (2 bytes of length, 4 of subfield head)."""
    raw = size - gzip_size(size) + size
    while True:
        pad = size - gzip_size(raw)
        if pad == 0 or pad >= 6:
            return raw, pad
        raw -= 1


def _header(pad: int) -> bytes:
    """The gzip header, with an extra field of `pad` bytes in all (FLG.FEXTRA) when pad > 0."""
    if pad == 0:
        return _HEADER
    data = pad - 6  # XLEN (2), then one subfield: SI1 SI2 'p' 'g', LEN (2), data
    extra = struct.pack("<H2sH", pad - 2, b"pg", data) + bytes(data)
    return _HEADER[:3] + b"\x04" + _HEADER[4:] + extra


def _blocks(data: bytes, final: bool) -> Iterator[bytes]:
    """`data` as stored deflate blocks; the last one marked final when `final`."""
    if not data and final:
        yield b"\x01\x00\x00\xff\xff"
    for offset in range(0, len(data), BLOCK):
        piece = data[offset : offset + BLOCK]
        last = final and offset + BLOCK >= len(data)
        yield struct.pack("<BHH", 1 if last else 0, len(piece), len(piece) ^ 0xFFFF) + piece


@dataclass
class GzipLayer:
    """A random layer generated piece by piece: its gzip stream, digest and diff id."""

    size: int  # bytes of the gzip stream (random contents are a little shorter)
    _digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    _diff: hashlib._Hash = field(default_factory=hashlib.sha256)

    @property
    def compressed_size(self) -> int:
        """Bytes of the gzip stream (`size`)."""
        return self.size

    @property
    def digest(self) -> str:
        """sha256 of the gzip stream (valid once stream() was consumed)."""
        return "sha256:" + self._digest.hexdigest()

    @property
    def diff_id(self) -> str:
        """sha256 of the uncompressed contents (valid once stream() was consumed)."""
        return "sha256:" + self._diff.hexdigest()

    def stream(self) -> Iterator[bytes]:
        """The gzip stream in pieces of about 1 MiB, never held whole in memory."""
        if self.size < SMALLEST:
            data = os.urandom(self.size)
            self._diff.update(data)
            yield self._out(data)
            return
        raw, pad = plan(self.size)
        crc, left = 0, raw
        yield self._out(_header(pad))
        while True:
            data = os.urandom(min(left, PIECE))
            left -= len(data)
            self._diff.update(data)
            crc = zlib.crc32(data, crc)
            yield self._out(b"".join(_blocks(data, final=left == 0)))
            if left == 0:
                break
        yield self._out(struct.pack("<II", crc, raw & 0xFFFFFFFF))

    def _out(self, data: bytes) -> bytes:
        self._digest.update(data)
        return data


def random_gzip_layer(size: int) -> tuple[bytes, str]:
    """A gzip stream of random contents, `size` bytes long, in memory, and its diff id
    (raw random bytes below SMALLEST)."""
    layer = GzipLayer(size)
    data = b"".join(layer.stream())
    return data, layer.diff_id


def diff_id_of(layer: bytes) -> str:
    """The diff id (sha256 of the uncompressed contents) of a gzip layer, else of the bytes."""
    if layer[:2] == b"\x1f\x8b":
        return "sha256:" + hashlib.sha256(zlib.decompress(layer, 31)).hexdigest()
    return "sha256:" + hashlib.sha256(layer).hexdigest()
