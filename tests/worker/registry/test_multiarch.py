"""Indexes, attestations, platforms, tags and mounts, on real registries and the vendor front."""

from __future__ import annotations

import json
import os

import httpx
import pytest

from tests.support.images import ImageBuilder, multi_platform
from tests.support.proxy import RegistryProxy
from tests.support.proxy_rules import RefuseAttestations
from tests.support.services import Registry
from tests.support.vendor import vendor_read
from worker.errors import NotFoundError, RejectedError
from worker.reference import Reference, destination, parse_reference
from worker.registry.copier import CopyEngine
from worker.registry.destination import CopyOptions
from worker.registry.progress import Progress

KiB = 1024


def front_manifest(front: RegistryProxy, repository: str, path: str) -> httpx.Response:
    """Read a manifest through the vendor front with a token of our own."""
    return vendor_read(f"http://{front.host}", repository, path)


def src(registry: Registry, repo: str, tag: str) -> Reference:
    return parse_reference(f"{registry.host}/{repo}:{tag}")


@pytest.mark.parametrize("style", ["classic", "artifact"])
def test_strip_pushes_both_platforms_through_the_vendor_front(
    front_engine: CopyEngine,
    vendor_front: RegistryProxy,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
    style: str,
) -> None:
    top, images = multi_platform(
        source_images, f"acme/{unique}", "1", [8 * KiB], attestations=style
    )
    dest = destination(vendor_front.host, "myapp", unique, "1")
    progress = Progress()
    result = front_engine.copy(
        src(source_registry, f"acme/{unique}", "1"), [dest], progress=progress
    )
    assert result.source_digest == top.digest != result.digest
    assert len(result.removed) == 2
    served = front_manifest(vendor_front, f"myapp/{unique}", "manifests/1")
    assert served.headers["Docker-Content-Digest"] == result.digest
    index = served.json()
    assert [m["digest"] for m in index["manifests"]] == [i.digest for i in images]
    assert {m["platform"]["architecture"] for m in index["manifests"]} == {"amd64", "arm64"}
    assert index["annotations"] == json.loads(top.raw)["annotations"]
    for image in images:
        child = front_manifest(vendor_front, f"myapp/{unique}", f"manifests/{image.digest}")
        assert child.status_code == 200 and child.content == image.raw
    assert progress.blobs_total == 4 == progress.blobs_done  # 2 configs + 2 layers


def test_keep_fails_as_rejected_naming_the_attestations(
    front_engine: CopyEngine,
    vendor_front: RegistryProxy,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    multi_platform(source_images, f"acme/{unique}", "1", [4 * KiB], attestations="classic")
    before = vendor_front.rule(RefuseAttestations).refused
    with pytest.raises(RejectedError) as caught:
        front_engine.copy(
            src(source_registry, f"acme/{unique}", "1"),
            [destination(vendor_front.host, "myapp", unique, "1")],
            options=CopyOptions(attestations="keep"),
        )
    assert vendor_front.rule(RefuseAttestations).refused > before
    detail = caught.value.detail
    assert "attestation manifest(s)" in detail and 'attestations: "strip"' in detail
    assert "MANIFEST_INVALID" in detail


def test_fail_refuses_before_pushing_anything(
    front_engine: CopyEngine,
    vendor_front: RegistryProxy,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    multi_platform(source_images, f"acme/{unique}", "1", [4 * KiB], attestations="artifact")
    with pytest.raises(RejectedError, match="attestation"):
        front_engine.copy(
            src(source_registry, f"acme/{unique}", "1"),
            [destination(vendor_front.host, "myapp", unique, "1")],
            options=CopyOptions(attestations="fail"),
        )
    pushed = [
        e.path
        for e in vendor_front.stats.forwarded
        if e.method in ("PUT", "POST", "PATCH") and f"/{unique}/" in e.path
    ]
    assert pushed == []


def test_docker_list_without_attestations_keeps_its_digest_and_shared_blobs_copy_once(
    front_engine: CopyEngine,
    vendor_front: RegistryProxy,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    shared = [os.urandom(64 * KiB)]
    top, _ = multi_platform(
        source_images, f"acme/{unique}", "2", [2 * KiB], docker=True, shared=shared
    )
    progress = Progress()
    result = front_engine.copy(
        src(source_registry, f"acme/{unique}", "2"),
        [destination(vendor_front.host, "myapp", unique, "2")],
        progress=progress,
    )
    assert result.digest == top.digest and result.removed == []
    assert front_manifest(vendor_front, f"myapp/{unique}", "manifests/2").content == top.raw
    assert progress.blobs_total == 5  # one shared layer, two own layers, two configs
    uploads = vendor_front.stats.statuses("PUT", f"/myapp/{unique}/blobs/uploads/")
    assert uploads == [201] * 5


def test_platform_selection_and_unknown_platform(
    front_engine: CopyEngine,
    vendor_front: RegistryProxy,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    _, images = multi_platform(source_images, f"acme/{unique}", "1", [KiB], attestations="classic")
    dest = destination(vendor_front.host, "myapp", unique, "arm")
    result = front_engine.copy(
        src(source_registry, f"acme/{unique}", "1"),
        [dest],
        options=CopyOptions(platforms=("linux/arm64",)),
    )
    index = front_manifest(vendor_front, f"myapp/{unique}", "manifests/arm").json()
    assert [m["digest"] for m in index["manifests"]] == [images[1].digest]
    assert result.served[str(dest)] == result.digest
    with pytest.raises(NotFoundError, match="linux/amd64, linux/arm64/v8"):
        front_engine.copy(
            src(source_registry, f"acme/{unique}", "1"),
            [dest],
            options=CopyOptions(platforms=("windows/amd64",)),
        )


def test_tag_already_at_digest_is_not_put_again(
    front_engine: CopyEngine,
    vendor_front: RegistryProxy,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    source_images.image(f"acme/{unique}", "1", [KiB])
    dests = [destination(vendor_front.host, "myapp", unique, t) for t in ("1", "latest")]
    front_engine.copy(src(source_registry, f"acme/{unique}", "1"), dests)
    puts = len(vendor_front.stats.statuses("PUT", f"/myapp/{unique}/manifests/"))
    assert puts == 2
    front_engine.copy(src(source_registry, f"acme/{unique}", "1"), dests)
    assert len(vendor_front.stats.statuses("PUT", f"/myapp/{unique}/manifests/")) == puts


def test_shared_layers_are_mounted_from_another_repository_of_the_app(
    front_engine: CopyEngine,
    vendor_front: RegistryProxy,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    base = [os.urandom(200 * KiB), os.urandom(100 * KiB)]
    first = source_images.image(f"acme/{unique}-api", "1", [KiB], layers=base)
    source_images.image(f"acme/{unique}-worker", "1", [2 * KiB], layers=base)
    front_engine.copy(
        src(source_registry, f"acme/{unique}-api", "1"),
        [destination(vendor_front.host, "myapp", f"{unique}-api", "1")],
    )
    known = {layer["digest"]: f"myapp/{unique}-api" for layer in first.layers}
    result = front_engine.copy(
        src(source_registry, f"acme/{unique}-worker", "1"),
        [destination(vendor_front.host, "myapp", f"{unique}-worker", "1")],
        options=CopyOptions(
            mount_lookup=lambda digests: {d: known[d] for d in digests if d in known}
        ),
    )
    assert result.blobs_mounted == 2
    mounts = vendor_front.stats.statuses("POST", f"/myapp/{unique}-worker/blobs/uploads/?mount=")
    assert mounts == [201, 201]
