"""Test images beyond the demo's: multi-platform indexes, BuildKit attestations, descriptors."""

from __future__ import annotations

import json
import os
from typing import Any

from deploy.demo_stack.images import (
    DOCKER_LIST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    ImageBuilder,
    Pushed,
    digest_of,
)

__all__ = [
    "ATTESTATION_ARTIFACT",
    "IN_TOTO",
    "OCI_CONFIG",
    "OCI_EMPTY",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "ImageBuilder",
    "Pushed",
    "attestation_for",
    "carries_attestation",
    "descriptor",
    "digest_of",
    "multi_platform",
]

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
