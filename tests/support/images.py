"""Build test images straight over the registry API: random layers, OCI or Docker manifests."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.layers import GzipLayer, diff_id_of, random_gzip_layer

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


ATTESTATION_ARTIFACT = "application/vnd.docker.attestation.manifest.v1+json"
IN_TOTO = "application/vnd.in-toto+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"


def descriptor(pushed: Pushed, **extra: Any) -> dict[str, Any]:
    """The descriptor of a pushed manifest, with extra fields (platform, annotations ...)."""
    return {
        "mediaType": pushed.media_type,
        "digest": pushed.digest,
        "size": len(pushed.raw),
        **extra,
    }


def attestation_for(
    builder: ImageBuilder, repository: str, subject: Pushed, style: str
) -> tuple[Pushed, dict[str, Any]]:
    """A BuildKit-style attestation manifest for `subject` and its index descriptor.

    style "classic": unknown/unknown platform plus vnd.docker.reference.* annotations;
    style "artifact": artifactType, a subject and an empty config, no annotations.
    """
    statement = json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://slsa.dev/provenance/v0.2",
            "subject": [{"digest": {"sha256": subject.digest[7:]}}],
            "nonce": os.urandom(8).hex(),
        }
    ).encode()
    layer = {
        "mediaType": IN_TOTO,
        "digest": builder.push_blob(repository, statement),
        "size": len(statement),
        "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"},
    }
    if style == "classic":
        config = json.dumps(
            {
                "architecture": "unknown",
                "os": "unknown",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
            }
        ).encode()
        body: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": builder.push_blob(repository, config),
                "size": len(config),
            },
            "layers": [layer],
        }
        pushed = builder.push_manifest(repository, "", body, OCI_MANIFEST)
        return pushed, descriptor(
            pushed,
            platform={"architecture": "unknown", "os": "unknown"},
            annotations={
                "vnd.docker.reference.digest": subject.digest,
                "vnd.docker.reference.type": "attestation-manifest",
            },
        )
    empty = b"{}"
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ATTESTATION_ARTIFACT,
        "config": {
            "mediaType": OCI_EMPTY,
            "digest": builder.push_blob(repository, empty),
            "size": 2,
        },
        "layers": [layer],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest,
            "size": len(subject.raw),
        },
    }
    pushed = builder.push_manifest(repository, "", body, OCI_MANIFEST)
    return pushed, descriptor(pushed, artifactType=ATTESTATION_ARTIFACT)


def multi_platform(
    builder: ImageBuilder,
    repository: str,
    tag: str,
    layer_sizes: list[int],
    *,
    attestations: str | None = None,
    docker: bool = False,
    platforms: tuple[tuple[str, str, str], ...] = (
        ("linux", "amd64", ""),
        ("linux", "arm64", "v8"),
    ),
    shared: list[bytes] | None = None,
) -> tuple[Pushed, list[Pushed]]:
    """Push an index (or Docker manifest list) of one image per platform; returns it and them."""
    images, entries = [], []
    for os_name, arch, variant in platforms:
        image = builder.image(
            repository, "", layer_sizes, docker=docker, platform=(os_name, arch), layers=shared
        )
        platform = {"architecture": arch, "os": os_name}
        if variant:
            platform["variant"] = variant
        images.append(image)
        entries.append(descriptor(image, platform=platform))
    if attestations:
        for image in list(images):
            _, entry = attestation_for(builder, repository, image, attestations)
            entries.append(entry)
    media_type = DOCKER_LIST if docker else OCI_INDEX
    body = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    if not docker:
        body["annotations"] = {"org.opencontainers.image.created": "2026-11-27T00:00:00Z"}
    return builder.push_manifest(repository, tag, body, media_type), images


def carries_attestation(body: bytes) -> bool:
    """True when a manifest or index body is, or lists, a BuildKit attestation."""
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    if doc.get("artifactType") == ATTESTATION_ARTIFACT:
        return True
    if any(
        layer.get("mediaType") == "application/vnd.in-toto+json"
        for layer in doc.get("layers") or []
    ):
        return True
    for entry in doc.get("manifests") or []:
        annotations = entry.get("annotations") or {}
        if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            return True
        if entry.get("artifactType") == ATTESTATION_ARTIFACT:
            return True
    return False
