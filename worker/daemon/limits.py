"""A destination's layer limit applied to daemon images before any byte is sent there.

The export path compresses layers itself, so it knows a layer's exact compressed size before
sending it; `docker push` compresses on its own, so for it only the uncompressed size is known.
"""

from __future__ import annotations

from typing import Any

from worker.daemon.source import DaemonSource
from worker.errors import RejectedError
from worker.registry.destination import BlobLimit


def gzip_bound(size: int) -> int:
    """The most bytes a gzip of `size` bytes can take (zlib's conservative deflateBound, with
    the gzip header and trailer): a layer whose bound is under a limit needs no counting."""
    return size + ((size + 7) >> 3) + ((size + 63) >> 6) + 5 + 18


def may_reach(image: Any, limit: BlobLimit) -> bool:
    """Whether a layer of the daemon's `image` could reach `limit` once packed: its files take
    `Size` bytes in all, and a layer's tar adds about 1 KiB of headers a file, so a layer at
    the limit would need over a million files beside half the limit in content."""
    return int(image.attrs.get("Size") or 0) * 2 >= limit.size


def check_before_docker_push(
    source: DaemonSource, image: Any, name: str, destination: str, limit: BlobLimit | None
) -> None:
    """RejectedError when a layer of `image` holds `limit` bytes or more before compression:
    `docker push` would compress and send it with no way to stop it at the limit."""
    if limit is None:
        return
    with source.errors(f"reading the history of {name}"):
        history = source.client().api.history(image.id)
    biggest = max((int(step.get("Size") or 0) for step in history), default=0)
    if biggest >= limit.size:
        raise RejectedError(docker_push_refusal(name, biggest, destination, limit))


def docker_push_refusal(name: str, size: int, destination: str, limit: BlobLimit) -> str:
    """Why the docker-push path does not send a layer of `size` bytes before compression."""
    return (
        f"a layer of {name} holds {size} bytes ({size / 1e9:.2f} GB) before "
        f"compression and is not sent to {destination}: {limit.why}; `docker push` "
        "compresses it itself, so pushgate cannot tell its size on the wire first "
        "(PUSHGATE_DAEMON_PUSH=export counts the compressed layer before sending)"
    )
