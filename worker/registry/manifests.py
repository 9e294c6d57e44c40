"""Manifest media types and pure functions that read descriptors out of manifest bytes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from worker.errors import RejectedError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join((*INDEX_TYPES, *IMAGE_TYPES))

ATTESTATION_ARTIFACT = "application/vnd.docker.attestation.manifest.v1+json"
ATTESTATION_REFERENCE_TYPE = "attestation-manifest"
IN_TOTO = "application/vnd.in-toto+json"


def sha256_digest(data: bytes) -> str:
    """The sha256 digest string of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what a manifest says about a blob or child manifest."""

    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    artifact_type: str | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Descriptor:
        """Build a Descriptor from its JSON object; raise RejectedError when malformed."""
        try:
            return cls(
                media_type=str(raw.get("mediaType", "")),
                digest=str(raw["digest"]),
                size=int(raw["size"]),
                platform=raw.get("platform"),
                annotations=dict(raw.get("annotations") or {}),
                artifact_type=raw.get("artifactType"),
            )
        except (KeyError, TypeError, ValueError):
            detail = json.dumps(raw)[:200]
            raise RejectedError(f"malformed descriptor in manifest: {detail}") from None

    @property
    def platform_name(self) -> str:
        """os/arch[/variant] of a child manifest, or '' when it has no platform."""
        if not self.platform:
            return ""
        parts = [self.platform.get("os", ""), self.platform.get("architecture", "")]
        if self.platform.get("variant"):
            parts.append(self.platform["variant"])
        return "/".join(parts)


@dataclass(frozen=True)
class Manifest:
    """A manifest as served: its exact bytes, media type, digest and parsed JSON."""

    raw: bytes
    media_type: str
    digest: str
    body: dict[str, Any]

    @property
    def is_index(self) -> bool:
        """True for OCI indexes and Docker manifest lists."""
        return self.media_type in INDEX_TYPES

    @property
    def children(self) -> list[Descriptor]:
        """The child manifests of an index (empty for an image manifest)."""
        return [Descriptor.from_json(m) for m in self.body.get("manifests") or []]

    @property
    def blobs(self) -> list[Descriptor]:
        """The config and layers of an image manifest (empty for an index)."""
        if self.is_index:
            return []
        blobs = [Descriptor.from_json(self.body["config"])] if "config" in self.body else []
        return blobs + [Descriptor.from_json(layer) for layer in self.body.get("layers") or []]


def parse_manifest(raw: bytes, content_type: str) -> Manifest:
    """Parse manifest bytes as served, working out the media type when the header is vague."""
    try:
        body = json.loads(raw)
    except ValueError:
        raise RejectedError("the source served a manifest that is not valid JSON") from None
    if not isinstance(body, dict):
        raise RejectedError("the source served a manifest that is not a JSON object")
    media_type = content_type.split(";")[0].strip()
    if media_type not in (*IMAGE_TYPES, *INDEX_TYPES):
        media_type = body.get("mediaType") or ("manifests" in body and OCI_INDEX) or OCI_MANIFEST
    if media_type not in (*IMAGE_TYPES, *INDEX_TYPES):
        raise RejectedError(
            f"unsupported manifest type {media_type!r}: pushgate copies OCI and Docker v2 schema 2 "
            "images and indexes"
        )
    if body.get("schemaVersion") != 2:
        raise RejectedError("unsupported manifest: only schemaVersion 2 manifests can be copied")
    return Manifest(raw=raw, media_type=media_type, digest=sha256_digest(raw), body=body)
