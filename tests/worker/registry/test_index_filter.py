"""Attestation detection, the policy and platform selection, as pure functions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from worker.errors import NotFoundError, RejectedError
from worker.registry.manifests import (
    ATTESTATION_ARTIFACT,
    DOCKER_LIST,
    IN_TOTO,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    parse_manifest,
    sha256_digest,
)
from worker.registry.selection import is_attestation, platform_matches, select_children


def manifest(body: dict[str, Any], media_type: str = OCI_MANIFEST) -> Manifest:
    return parse_manifest(json.dumps(body, indent=3).encode(), media_type)


def image(arch: str) -> Manifest:
    config = {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": sha256_digest(arch.encode()),
        "size": len(arch),
    }
    return manifest(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config,
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha256_digest(b"layer" + arch.encode()),
                    "size": 5,
                }
            ],
        }
    )


def classic(subject: Manifest) -> tuple[Manifest, dict[str, Any]]:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256_digest(b"c" + subject.raw),
            "size": 1,
        },
        "layers": [{"mediaType": IN_TOTO, "digest": sha256_digest(subject.raw), "size": 9}],
    }
    att = manifest(body)
    return att, {
        "mediaType": OCI_MANIFEST,
        "digest": att.digest,
        "size": len(att.raw),
        "platform": {"os": "unknown", "architecture": "unknown"},
        "annotations": {
            "vnd.docker.reference.type": "attestation-manifest",
            "vnd.docker.reference.digest": subject.digest,
        },
    }


def artifact(subject: Manifest) -> tuple[Manifest, dict[str, Any]]:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ATTESTATION_ARTIFACT,
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": sha256_digest(b"{}"),
            "size": 2,
        },
        "layers": [{"mediaType": IN_TOTO, "digest": sha256_digest(subject.raw), "size": 9}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject.digest, "size": len(subject.raw)},
    }
    att = manifest(body)
    # The newer form may come with neither annotations nor artifactType on the descriptor.
    return att, {"mediaType": OCI_MANIFEST, "digest": att.digest, "size": len(att.raw)}


def index(style: str | None, media_type: str = OCI_INDEX) -> tuple[Manifest, list[Manifest]]:
    amd, arm = image("amd64"), image("arm64")
    entries = [
        {
            "mediaType": OCI_MANIFEST,
            "digest": amd.digest,
            "size": len(amd.raw),
            "platform": {"os": "linux", "architecture": "amd64"},
        },
        {
            "mediaType": OCI_MANIFEST,
            "digest": arm.digest,
            "size": len(arm.raw),
            "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
        },
    ]
    children = [amd, arm]
    for subject in (amd, arm) if style else ():
        att, entry = (classic if style == "classic" else artifact)(subject)
        children.append(att)
        entries.append(entry)
    body = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": entries,
        "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
    }
    return manifest(body, media_type), children


@pytest.mark.parametrize("style", ["classic", "artifact"])
def test_strip_removes_attestations_and_keeps_other_fields(style: str) -> None:
    top, children = index(style)
    selection = select_children(top, children, "strip", [])
    assert [m.digest for m in selection.children] == [children[0].digest, children[1].digest]
    assert [r["digest"] for r in selection.removed] == [children[2].digest, children[3].digest]
    assert all(r["reason"] == "attestation stripped" for r in selection.removed)
    pushed = selection.manifest
    assert pushed.media_type == OCI_INDEX and pushed.digest != top.digest
    assert pushed.body["annotations"] == top.body["annotations"]
    assert [m["digest"] for m in pushed.body["manifests"]] == [c.digest for c in children[:2]]
    again = select_children(top, children, "strip", [])
    assert again.manifest.raw == pushed.raw  # deterministic


def test_nothing_removed_keeps_the_index_byte_for_byte() -> None:
    top, children = index(None, DOCKER_LIST)
    selection = select_children(top, children, "strip", [])
    assert selection.manifest is top and selection.removed == []


def test_keep_keeps_everything_and_fail_refuses() -> None:
    top, children = index("classic")
    kept = select_children(top, children, "keep", [])
    assert kept.manifest is top and len(kept.children) == 4
    assert kept.kept_attestations == [children[2].digest, children[3].digest]
    with pytest.raises(RejectedError, match='"strip"'):
        select_children(top, children, "fail", [])


def test_platform_selection_and_unknown_platform() -> None:
    top, children = index("classic")
    selection = select_children(top, children, "strip", ["linux/arm64/v8"])
    assert [m.digest for m in selection.children] == [children[1].digest]
    assert len(selection.removed) == 3
    kept = select_children(top, children, "keep", ["linux/arm64"])
    assert [m.digest for m in kept.children] == [children[1].digest, children[3].digest]
    with pytest.raises(NotFoundError, match=r"linux/s390x.*linux/amd64, linux/arm64/v8"):
        select_children(top, children, "strip", ["linux/s390x"])


def test_single_attestation_manifest_is_refused() -> None:
    _, children = index("artifact")
    with pytest.raises(RejectedError, match="attestation manifest, not an image"):
        select_children(children[2], [], "strip", [])


@pytest.mark.parametrize(
    ("wanted", "platform", "ok"),
    [
        ("linux/amd64", {"os": "linux", "architecture": "amd64"}, True),
        ("linux/arm64", {"os": "linux", "architecture": "arm64", "variant": "v8"}, True),
        ("linux/arm64/v8", {"os": "linux", "architecture": "arm64"}, True),
        ("linux/arm/v7", {"os": "linux", "architecture": "arm", "variant": "v6"}, False),
        ("linux/amd64", {"os": "windows", "architecture": "amd64"}, False),
    ],
)
def test_platform_matches(wanted: str, platform: dict[str, str], ok: bool) -> None:
    desc = Descriptor(OCI_MANIFEST, sha256_digest(b"x"), 1, platform=platform)
    assert platform_matches(wanted, desc) is ok
    assert not is_attestation(desc, None)
