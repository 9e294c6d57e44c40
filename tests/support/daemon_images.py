"""Build images FROM scratch in a Docker daemon through the SDK."""

from __future__ import annotations

import io
import os
import tarfile
from typing import Any


def build_scratch_image(client: Any, tag: str, layer_sizes: list[int]) -> Any:
    """Build `tag` FROM scratch with one COPY (one layer) of random bytes per size."""
    context = io.BytesIO()
    dockerfile = "FROM scratch\n" + "".join(f"COPY f{i} /f{i}\n" for i in range(len(layer_sizes)))
    files = [("Dockerfile", dockerfile.encode())]
    files += [(f"f{i}", os.urandom(size)) for i, size in enumerate(layer_sizes)]
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    image, _ = client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
    return image
