"""What the Docker daemon says about an image without exporting it: its config digest, its
layers (diff_ids) and, where its history tells, each layer's size before compression."""

from __future__ import annotations

from dataclasses import dataclass

from worker.daemon.source import DaemonSource


@dataclass(frozen=True)
class DaemonImage:
    """An image in the daemon, as inspected (nothing exported, nothing written)."""

    id: str  # the digest of its config: what a push keeps as the config blob
    diff_ids: list[str]
    sizes: list[int | None]  # each layer's uncompressed size; None where unknown


def inspect_image(source: DaemonSource, name: str) -> DaemonImage:
    """The daemon's image `name`: NotFoundError when absent, NetworkError when unreachable."""
    image = source.image(name)
    with source.errors(f"reading the history of {name}"):
        history = source.client().api.history(image.id)
    diff_ids = [str(d) for d in (image.attrs.get("RootFS") or {}).get("Layers") or []]
    # The history lists every build step, newest first; the steps that made a layer carry its
    # size. Steps that made an empty layer look like steps that made none, so sizes are only
    # given when the count matches.
    sizes = [int(step.get("Size") or 0) for step in reversed(history)]
    layered = [size for size in sizes if size > 0]
    known: list[int | None] = list(layered) if len(layered) == len(diff_ids) else []
    return DaemonImage(str(image.id), diff_ids, known or [None] * len(diff_ids))
