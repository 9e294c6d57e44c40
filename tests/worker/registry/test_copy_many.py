"""One image to several registries at once (the fan-out): one source read per blob, one
progress, each destination its own result; registry behaviours as errors a person can act on."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BASIC_PASSWORD, BASIC_USER
from tests.support.images import ImageBuilder
from tests.support.proxy import RegistryProxy
from tests.support.proxy_rules import ImmutableTags, KnownRepositories, Revocation
from tests.support.services import Registry
from tests.support.vendor import served_digest
from worker.engines import build_engine
from worker.errors import AuthError, RejectedError
from worker.reference import Reference, parse_reference
from worker.registry.copier import CopyEngine
from worker.registry.destination import Destination
from worker.registry.progress import Progress
from worker.settings import Settings

KiB = 1024


@pytest.fixture
def fan_engine(
    settings: Settings, tmp_path: Path, basic_registry: Registry
) -> Iterator[Callable[..., CopyEngine]]:
    """An engine with a Basic target on `basic_host` (the basic registry, or a gate to it)."""
    engines: list[CopyEngine] = []
    (tmp_path / "pw").write_text(BASIC_PASSWORD)

    def make(basic_host: str, *hosts: str, **overrides: object) -> CopyEngine:
        targets = tmp_path / "targets.yaml"
        targets.write_text(
            f"- {{name: basic, registry: '{basic_host}', username: {BASIC_USER}, "
            "password_file: pw, insecure: true}"
        )
        values = {
            **settings.__dict__,
            "targets_file": targets,
            "insecure_registries": settings.insecure_registries | set(hosts),
            "source_registries": settings.source_registries | set(hosts),
            **overrides,
        }
        engine = build_engine(Settings(**values))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def _basic_digest(registry: Registry, repository: str, tag: str) -> str | None:
    response = httpx.head(
        f"{registry.url}/v2/{repository}/manifests/{tag}",
        auth=(BASIC_USER, BASIC_PASSWORD),
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    return response.headers.get("Docker-Content-Digest")


def test_each_blob_is_read_once_for_three_destinations(
    fan_engine: Callable[..., CopyEngine],
    proxies: Callable[..., RegistryProxy],
    source_images: ImageBuilder,
    source_registry: Registry,
    vendor_registry: Registry,
    basic_registry: Registry,
    unique: str,
) -> None:
    source_proxy = proxies(source_registry)
    engine = fan_engine(basic_registry.host, source_proxy.host)
    image = source_images.image(f"acme/{unique}", "1", [300 * KiB, 200 * KiB, 3 * KiB])
    legs = [
        Destination("replicated", [Reference(vendor_registry.host, f"myapp/{unique}", tag="1")]),
        Destination(
            "basic",
            [
                Reference(basic_registry.host, f"pushgate/{unique}", tag="1"),
                Reference(basic_registry.host, f"pushgate/{unique}", tag="latest"),
            ],
        ),
        Destination("copy", [Reference(vendor_registry.host, f"shared/{unique}", tag="1")]),
    ]
    progress = Progress()
    source = parse_reference(f"{source_proxy.host}/acme/{unique}:1")
    engine.copy_to(source, legs, progress=progress)
    assert [leg.error for leg in legs] == [None, None, None]
    assert all(leg.result and leg.result.digest == image.digest for leg in legs)
    blobs = [layer["digest"] for layer in image.layers] + [
        json.loads(image.raw)["config"]["digest"]
    ]
    for digest in blobs:
        assert source_proxy.stats.count("GET", f"/blobs/{digest}") == 1, digest
    snapshot = progress.snapshot()
    assert snapshot.blobs_total == 3 * len(blobs) == snapshot.blobs_done
    assert snapshot.bytes_done == snapshot.bytes_total > 3 * 500 * KiB
    assert served_digest(vendor_registry.url, f"myapp/{unique}", "1") == image.digest
    assert served_digest(vendor_registry.url, f"shared/{unique}", "1") == image.digest
    assert _basic_digest(basic_registry, f"pushgate/{unique}", "latest") == image.digest

    # Again (a retry, a redelivery): every destination serves it, nothing is sent again.
    uploads = source_proxy.stats.count("GET", "/blobs/")
    again = [Destination(leg.name, leg.references) for leg in legs]
    progress = Progress()
    engine.copy_to(source, again, progress=progress)
    assert all(leg.result and leg.result.digest == image.digest for leg in again)
    assert source_proxy.stats.count("GET", "/blobs/") == uploads
    assert progress.snapshot().blobs_skipped == 3 * len(blobs)


def test_one_failing_destination_leaves_the_others(
    fan_engine: Callable[..., CopyEngine],
    proxies: Callable[..., RegistryProxy],
    source_images: ImageBuilder,
    source_registry: Registry,
    vendor_registry: Registry,
    basic_registry: Registry,
    unique: str,
) -> None:
    revoking = proxies(basic_registry, Revocation(when=lambda method, path: method == "POST"))
    engine = fan_engine(revoking.host, revoking.host)
    image = source_images.image(f"acme/{unique}", "1", [100 * KiB, 2 * KiB])
    legs = [
        Destination("replicated", [Reference(vendor_registry.host, f"myapp/{unique}", tag="1")]),
        Destination("basic", [Reference(revoking.host, f"pushgate/{unique}", tag="1")]),
    ]
    engine.copy_to(parse_reference(f"{source_registry.host}/acme/{unique}:1"), legs)
    assert legs[0].error is None and legs[0].result and legs[0].result.digest == image.digest
    assert isinstance(legs[1].error, AuthError) and legs[1].result is None
    assert served_digest(vendor_registry.url, f"myapp/{unique}", "1") == image.digest


def test_a_registry_that_does_not_create_repositories(
    make_engine: Callable[..., CopyEngine],
    proxies: Callable[..., RegistryProxy],
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    ecr = proxies(source_registry, KnownRepositories({f"team/{unique}-made"}))
    engine = make_engine(insecure_registries=frozenset({source_registry.host, ecr.host}))
    source_images.image(f"acme/{unique}", "1", [KiB])
    source = parse_reference(f"{source_registry.host}/acme/{unique}:1")
    with pytest.raises(RejectedError) as caught:
        engine.copy(source, [Reference(ecr.host, f"team/{unique}", tag="1")])
    detail = caught.value.detail
    assert f"repository team/{unique} does not exist on {ecr.host}" in detail
    assert f"create team/{unique} on {ecr.host} first" in detail
    made = Reference(ecr.host, f"team/{unique}-made", tag="1")
    assert engine.copy(source, [made]).served[str(made)].startswith("sha256:")


def test_an_immutable_tag_names_both_digests(
    make_engine: Callable[..., CopyEngine],
    proxies: Callable[..., RegistryProxy],
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    immutable = proxies(source_registry, ImmutableTags())
    engine = make_engine(insecure_registries=frozenset({source_registry.host, immutable.host}))
    first = source_images.image(f"acme/{unique}", "a", [KiB])
    second = source_images.image(f"acme/{unique}", "b", [2 * KiB])
    dest = Reference(immutable.host, f"team/{unique}", tag="1.0")
    engine.copy(parse_reference(f"{source_registry.host}/acme/{unique}:a"), [dest])
    puts = immutable.stats.count("PUT", "/manifests/")
    engine.copy(parse_reference(f"{source_registry.host}/acme/{unique}:a"), [dest])
    assert immutable.stats.count("PUT", "/manifests/") == puts  # serves it: not PUT again
    with pytest.raises(RejectedError) as caught:
        engine.copy(parse_reference(f"{source_registry.host}/acme/{unique}:b"), [dest])
    detail = caught.value.detail
    assert f"tag 1.0 of {immutable.host}/team/{unique} points to {first.digest}" in detail
    assert f"refused to move it to {second.digest}" in detail and "immutable" in detail


def test_large_blobs_go_to_each_destination_on_their_own(
    fan_engine: Callable[..., CopyEngine],
    proxies: Callable[..., RegistryProxy],
    source_images: ImageBuilder,
    source_registry: Registry,
    vendor_registry: Registry,
    basic_registry: Registry,
    unique: str,
) -> None:
    source_proxy = proxies(source_registry)
    engine = fan_engine(
        basic_registry.host, source_proxy.host, chunk_threshold=64 * KiB, chunk_size=64 * KiB
    )
    big = os.urandom(200 * KiB)
    image = source_images.image(f"acme/{unique}", "1", [KiB], layers=[big])
    legs = [
        Destination("replicated", [Reference(vendor_registry.host, f"myapp/{unique}", tag="1")]),
        Destination("basic", [Reference(basic_registry.host, f"pushgate/{unique}", tag="1")]),
    ]
    engine.copy_to(parse_reference(f"{source_proxy.host}/acme/{unique}:1"), legs)
    assert all(leg.result and leg.result.digest == image.digest for leg in legs)
    large = next(layer["digest"] for layer in image.layers if layer["size"] == len(big))
    assert source_proxy.stats.count("GET", f"/blobs/{large}") == 2  # chunked: one read each
