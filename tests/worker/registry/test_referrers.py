"""What is attached to an image, found in a real source registry and written to real targets: a
Basic-only distribution registry (fallback index) and a proxy serving the referrers API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.accounts import BASIC_PASSWORD, BASIC_USER
from tests.support.images import OCI_INDEX, ImageBuilder, multi_platform
from tests.support.proxy import RegistryProxy
from tests.support.proxy_rules import ReferrersApi
from tests.support.services import Registry
from tests.support.signing import SPDX, SigningKey, attach_sbom, fallback_tag, signed_image
from worker.registry.carry import LocalTagLocks, carry
from worker.registry.client import RegistryClient
from worker.registry.credentials import Credentials
from worker.registry.referrers import discover
from worker.registry.repository import Repository
from worker.settings import Secret


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    """An ECDSA P-256 signing key of this test."""
    return SigningKey.make(tmp_path / "keys", "release.pub")


@pytest.fixture
def clients() -> Iterator[dict[str, RegistryClient]]:
    """Registry clients by host (Basic credentials for every one); closed afterwards."""
    made: dict[str, RegistryClient] = {}
    yield made
    for client in made.values():
        client.close()


def _repository(clients: dict[str, RegistryClient], host: str, name: str) -> Repository:
    if host not in clients:
        creds = Credentials(BASIC_USER, Secret(BASIC_PASSWORD))
        clients[host] = RegistryClient(host, insecure=True, credentials=creds)
    return Repository(clients[host], name)


def _basic_get(registry: Registry, repository: str, reference: str) -> httpx.Response:
    return httpx.get(
        f"{registry.url}/v2/{repository}/manifests/{reference}",
        auth=(BASIC_USER, BASIC_PASSWORD),
        headers={"Accept": f"{OCI_INDEX}, application/vnd.oci.image.manifest.v1+json"},
    )


def test_finds_signature_sbom_and_signature_on_sbom_in_order(
    source_images: ImageBuilder,
    source_registry: Registry,
    clients: dict[str, RegistryClient],
    key: SigningKey,
    unique: str,
) -> None:
    signed = signed_image(source_images, f"acme/{unique}", "1", key)
    src = _repository(clients, source_registry.host, f"acme/{unique}")
    found = discover(src, [signed.image.digest])
    assert [(a.digest, a.kind, a.subject) for a in found] == [
        (signed.sbom.digest, SPDX, signed.image.digest),
        (signed.signature.digest, "cosign sig", signed.image.digest),
        (signed.sbom_signature.digest, "cosign sig", signed.sbom.digest),
    ]
    assert found[0].manifest.raw == signed.sbom.raw


def test_cosign_att_and_sbom_tags_are_found_by_kind(
    source_images: ImageBuilder,
    source_registry: Registry,
    clients: dict[str, RegistryClient],
    unique: str,
) -> None:
    image = source_images.image(f"acme/{unique}", "1", [256])
    tagged = {}
    for kind in ("att", "sbom"):
        body = json.loads(source_images.image(f"acme/{unique}", "", [64 + len(kind)]).raw)
        tag = f"{fallback_tag(image.digest)}.{kind}"
        tagged[kind] = source_images.push_manifest(f"acme/{unique}", tag, body, image.media_type)
    src = _repository(clients, source_registry.host, f"acme/{unique}")
    found = discover(src, [image.digest])
    assert [(a.digest, a.kind, a.tag) for a in found] == [
        (tagged[k].digest, f"cosign {k}", f"{fallback_tag(image.digest)}.{k}") for k in tagged
    ]


def test_gitlab_fallback_tag_that_is_the_image_lists_nothing(
    source_images: ImageBuilder,
    source_registry: Registry,
    clients: dict[str, RegistryClient],
    unique: str,
) -> None:
    image = source_images.image(f"acme/{unique}", "1", [512])
    # GitLab serves the image itself under the fallback tag of its digest.
    source_images.push_manifest(
        f"acme/{unique}", fallback_tag(image.digest), json.loads(image.raw), image.media_type
    )
    src = _repository(clients, source_registry.host, f"acme/{unique}")
    assert discover(src, [image.digest]) == []


def test_a_referrers_route_that_is_no_index_falls_back_to_the_tag(
    source_images: ImageBuilder,
    source_registry: Registry,
    clients: dict[str, RegistryClient],
    unique: str,
) -> None:
    image = source_images.image(f"acme/{unique}", "1", [256])
    sbom = attach_sbom(source_images, f"acme/{unique}", image)
    proxy = RegistryProxy(source_registry.port, ReferrersApi(bogus=True))
    try:
        src = _repository(clients, proxy.host, f"acme/{unique}")
        assert src.referrers(image.digest) is None
        assert [a.digest for a in discover(src, [image.digest])] == [sbom.digest]
    finally:
        proxy.stop()


def test_depth_stops_at_three(
    source_images: ImageBuilder,
    source_registry: Registry,
    clients: dict[str, RegistryClient],
    unique: str,
) -> None:
    chain = [source_images.image(f"acme/{unique}", "1", [256])]
    for _ in range(4):  # an SBOM of an SBOM ... four levels deep
        chain.append(attach_sbom(source_images, f"acme/{unique}", chain[-1]))
    src = _repository(clients, source_registry.host, f"acme/{unique}")
    found = discover(src, [chain[0].digest])
    assert [a.digest for a in found] == [p.digest for p in chain[1:4]]


def test_carried_to_basic_registry_byte_for_byte_with_fallback_index(
    source_images: ImageBuilder,
    source_registry: Registry,
    basic_registry: Registry,
    clients: dict[str, RegistryClient],
    key: SigningKey,
    unique: str,
) -> None:
    signed = signed_image(source_images, f"acme/{unique}", "1", key)
    src = _repository(clients, source_registry.host, f"acme/{unique}")
    dst = _repository(clients, basic_registry.host, f"pushgate/{unique}")
    found = discover(src, [signed.image.digest])
    locks = LocalTagLocks()
    carry(src, dst, found, locks)
    for pushed in (signed.signature, signed.sbom, signed.sbom_signature):
        served = _basic_get(basic_registry, f"pushgate/{unique}", pushed.digest)
        assert served.content == pushed.raw
    sig_tag = fallback_tag(signed.image.digest) + ".sig"
    assert _basic_get(basic_registry, f"pushgate/{unique}", sig_tag).content == signed.signature.raw
    index = _basic_get(basic_registry, f"pushgate/{unique}", fallback_tag(signed.image.digest))
    assert [(e["digest"], e["artifactType"]) for e in index.json()["manifests"]] == [
        (signed.sbom.digest, SPDX)
    ]
    carry(src, dst, discover(src, [signed.image.digest]), locks)  # a second push: no duplicates
    again = _basic_get(basic_registry, f"pushgate/{unique}", fallback_tag(signed.image.digest))
    assert again.content == index.content


def test_referrers_api_target_gets_no_fallback_tag(
    source_images: ImageBuilder,
    source_registry: Registry,
    basic_registry: Registry,
    clients: dict[str, RegistryClient],
    key: SigningKey,
    unique: str,
) -> None:
    api = ReferrersApi()
    proxy = RegistryProxy(basic_registry.port, api)
    try:
        signed = signed_image(source_images, f"acme/{unique}", "1", key)
        src = _repository(clients, source_registry.host, f"acme/{unique}")
        dst = _repository(clients, proxy.host, f"pushgate/{unique}")
        carry(src, dst, discover(src, [signed.image.digest]), LocalTagLocks())
        listed = dst.referrers(signed.image.digest)
        assert [(d.digest, d.artifact_type) for d in listed or []] == [(signed.sbom.digest, SPDX)]
        assert proxy.stats.count("PUT", fallback_tag(signed.image.digest) + "?") == 0
        assert all(
            not p.endswith(fallback_tag(signed.image.digest)) for _, p, _ in proxy.stats.answered
        )
    finally:
        proxy.stop()


def test_a_paged_referrers_list_is_read_to_its_end(
    source_images: ImageBuilder,
    source_registry: Registry,
    basic_registry: Registry,
    clients: dict[str, RegistryClient],
    unique: str,
) -> None:
    image = source_images.image(f"acme/{unique}", "1", [256])
    sboms = [attach_sbom(source_images, f"acme/{unique}", image) for _ in range(5)]
    proxy = RegistryProxy(basic_registry.port, ReferrersApi(page_size=2))
    try:
        src = _repository(clients, source_registry.host, f"acme/{unique}")
        dst = _repository(clients, proxy.host, f"pushgate/{unique}")
        carry(src, dst, discover(src, [image.digest]), LocalTagLocks())
        listed = dst.referrers(image.digest)
        assert sorted(d.digest for d in listed or []) == sorted(s.digest for s in sboms)
        pages = [p for m, p, _ in proxy.stats.answered if m == "GET" and "/referrers/" in p]
        assert len(pages) == 3
    finally:
        proxy.stop()


def test_racing_carries_keep_both_entries(
    source_images: ImageBuilder,
    source_registry: Registry,
    basic_registry: Registry,
    clients: dict[str, RegistryClient],
    unique: str,
) -> None:
    index, _ = multi_platform(source_images, f"acme/{unique}", "1", [256])
    sboms = [attach_sbom(source_images, f"acme/{unique}", index) for _ in range(2)]
    src = _repository(clients, source_registry.host, f"acme/{unique}")
    dst = _repository(clients, basic_registry.host, f"pushgate/{unique}")
    found = discover(src, [index.digest])
    assert len(found) == 2
    locks = LocalTagLocks()
    barrier = threading.Barrier(2)

    def push(n: int) -> None:
        barrier.wait()
        carry(src, dst, [found[n]], locks)

    threads = [threading.Thread(target=push, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    served = _basic_get(basic_registry, f"pushgate/{unique}", fallback_tag(index.digest))
    assert sorted(e["digest"] for e in served.json()["manifests"]) == sorted(
        s.digest for s in sboms
    )
