"""Build images straight over the registry API: random gzip layers, OCI or Docker manifests."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import httpx

from deploy.demo_stack.layers import GzipLayer, diff_id_of, random_gzip_layer

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def digest_of(data: bytes) -> str:
    """sha256 digest string of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Pushed:
    """A manifest pushed to a registry."""

    repository: str
    tag: str
    digest: str
    media_type: str
    raw: bytes
    layers: list[dict[str, Any]]


class ImageBuilder:
    """Pushes blobs and manifests to one plain-HTTP registry (optionally with a Bearer token)."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, headers=headers or {}, timeout=120)

    def close(self) -> None:
        """Close the connections."""
        self.http.close()

    def push_blob(self, repository: str, data: bytes) -> str:
        """Upload `data` as a blob (POST then PUT) and return its digest."""
        digest = digest_of(data)
        if self.http.head(f"/v2/{repository}/blobs/{digest}").status_code == 200:
            return digest
        start = self.http.post(f"/v2/{repository}/blobs/uploads/")
        start.raise_for_status()
        location = httpx.URL(str(self.http.base_url)).join(start.headers["Location"])
        done = self.http.put(
            location.copy_merge_params({"digest": digest}),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        done.raise_for_status()
        return digest

    def push_random_blob(self, repository: str, size: int) -> GzipLayer:
        """Upload a gzip layer of `size` random bytes as one streamed PATCH, never held in
        memory; returns the layer (digest, diff id)."""
        layer = GzipLayer(size)
        start = self.http.post(f"/v2/{repository}/blobs/uploads/")
        start.raise_for_status()
        location = httpx.URL(str(self.http.base_url)).join(start.headers["Location"])
        patched = self.http.patch(
            location,
            content=layer.stream(),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(layer.compressed_size),
            },
        )
        patched.raise_for_status()
        location = httpx.URL(str(self.http.base_url)).join(patched.headers["Location"])
        self.http.put(location.copy_merge_params({"digest": layer.digest})).raise_for_status()
        return layer

    def push_manifest(
        self, repository: str, tag: str, body: dict[str, Any], media_type: str
    ) -> Pushed:
        """PUT a manifest under `tag` (may be a digest) and return what was pushed."""
        raw = json.dumps(body, indent=2).encode()
        reference = tag or digest_of(raw)
        response = self.http.put(
            f"/v2/{repository}/manifests/{reference}",
            content=raw,
            headers={"Content-Type": media_type},
        )
        response.raise_for_status()
        return Pushed(repository, tag, digest_of(raw), media_type, raw, body.get("layers", []))

    def image(
        self,
        repository: str,
        tag: str,
        layer_sizes: list[int],
        *,
        docker: bool = False,
        platform: tuple[str, str] = ("linux", "amd64"),
        layers: list[bytes] | None = None,
        streamed: list[int] | None = None,
    ) -> Pushed:
        """Push a single-platform image of random (incompressible) gzip layers; returns it.

        Sizes are of the uncompressed contents; `layers` are pushed as given. `streamed`
        sizes are generated while uploading, for layers too big to hold in memory.
        """
        made = [random_gzip_layer(size) for size in layer_sizes]
        datas = list(layers or []) + [data for data, _ in made]
        diff_ids = [diff_id_of(data) for data in layers or []] + [diff for _, diff in made]
        layer_type = DOCKER_LAYER if docker else OCI_LAYER
        descriptors = [
            {"mediaType": layer_type, "size": len(d), "digest": self.push_blob(repository, d)}
            for d in datas
        ]
        for size in streamed or []:
            layer = self.push_random_blob(repository, size)
            descriptors.append(
                {"mediaType": layer_type, "size": layer.compressed_size, "digest": layer.digest}
            )
            diff_ids.append(layer.diff_id)
        config = json.dumps(
            {
                "architecture": platform[1],
                "os": platform[0],
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "config": {},
                "history": [{"created_by": "pushgate test"}] * len(diff_ids),
            }
        ).encode()
        config_desc = {
            "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
            "size": len(config),
            "digest": self.push_blob(repository, config),
        }
        media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
        body = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": config_desc,
            "layers": descriptors,
        }
        return self.push_manifest(repository, tag, body, media_type)
