"""The copy engine against two real registries: a plain source and a token-auth vendor stand-in."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from deploy.demo_stack.token_server import TokenServer
from tests.support.accounts import EMAIL, OTHER_TOKEN, PASSWORD, SA_TOKEN, SOURCE_TOKEN, USER_TOKEN
from tests.support.images import ImageBuilder
from tests.support.services import Registry, free_port
from tests.support.vendor import vendor_read
from worker.errors import AuthError, NetworkError, NotFoundError, RejectedError
from worker.reference import destination, parse_reference
from worker.registry.copier import CopyEngine
from worker.registry.credentials import docker_config_credentials
from worker.registry.manifests import parse_manifest
from worker.registry.progress import Progress, ProgressCounts
from worker.settings import Secret

KiB = 1024


def test_copies_oci_image_with_same_digest(
    engine: CopyEngine,
    source_images: ImageBuilder,
    source_registry: Registry,
    vendor_registry: Registry,
    unique: str,
) -> None:
    image = source_images.image(f"acme/{unique}", "1.0", [300 * KiB, 20 * KiB, 5 * KiB])
    dest = destination(vendor_registry.host, "myapp", unique, "1.0")
    progress = Progress()
    result = engine.copy(
        parse_reference(f"{source_registry.host}/acme/{unique}:1.0"), [dest], progress=progress
    )
    assert result.source_digest == result.digest == image.digest
    assert result.served == {str(dest): image.digest}
    served = vendor_read(vendor_registry.url, f"myapp/{unique}", "manifests/1.0")
    assert served.status_code == 200
    assert served.content == image.raw
    assert progress.snapshot() == ProgressCounts(
        blobs_total=4,
        blobs_done=4,
        blobs_skipped=0,
        blobs_mounted=0,
        bytes_total=progress.bytes_total,
        bytes_done=progress.bytes_total,
    )
    assert progress.bytes_total > 325 * KiB


def test_repush_skips_every_blob(
    engine: CopyEngine,
    source_images: ImageBuilder,
    source_registry: Registry,
    vendor_registry: Registry,
    unique: str,
) -> None:
    source_images.image(f"acme/{unique}", "1", [10 * KiB, 10 * KiB])
    src = parse_reference(f"{source_registry.host}/acme/{unique}:1")
    dest = destination(vendor_registry.host, "myapp", unique, "1")
    engine.copy(src, [dest])
    again = Progress()
    engine.copy(src, [dest], progress=again)
    assert again.blobs_skipped == again.blobs_total == 3


def test_docker_v2_manifest_and_extra_tags_share_one_digest(
    engine: CopyEngine,
    source_images: ImageBuilder,
    source_registry: Registry,
    vendor_registry: Registry,
    unique: str,
) -> None:
    image = source_images.image(f"acme/{unique}", "v2", [4 * KiB], docker=True)
    dests = [
        destination(vendor_registry.host, "myapp", "svc-" + unique, t)
        for t in ("2.0", "2", "stable")
    ]
    result = engine.copy(parse_reference(f"{source_registry.host}/acme/{unique}:v2"), dests)
    assert set(result.served.values()) == {image.digest}
    for tag in ("2.0", "2", "stable"):
        served = vendor_read(vendor_registry.url, f"myapp/svc-{unique}", f"manifests/{tag}")
        assert served.headers["Docker-Content-Digest"] == image.digest
        assert served.headers["Content-Type"] == image.media_type


def test_source_by_digest(
    engine: CopyEngine,
    source_images: ImageBuilder,
    source_registry: Registry,
    vendor_registry: Registry,
    unique: str,
) -> None:
    image = source_images.image(f"acme/{unique}", "x", [1 * KiB])
    src = parse_reference(f"{source_registry.host}/acme/{unique}@{image.digest}")
    result = engine.copy(src, [destination(vendor_registry.host, "shared", unique, "pinned")])
    assert result.digest == image.digest


@pytest.mark.parametrize(
    ("username", "secret"), [("anything-at-all", SA_TOKEN), (EMAIL, USER_TOKEN), (EMAIL, PASSWORD)]
)
def test_vendor_login_modes(
    make_engine: Callable[..., CopyEngine],
    source_images: ImageBuilder,
    source_registry: Registry,
    vendor_registry: Registry,
    unique: str,
    username: str,
    secret: str,
) -> None:
    image = source_images.image(f"acme/{unique}", "1", [1 * KiB])
    engine = make_engine(registry_username=username, registry_token=Secret(secret))
    result = engine.copy(
        parse_reference(f"{source_registry.host}/acme/{unique}:1"),
        [destination(vendor_registry.host, "myapp", unique, "1")],
    )
    assert result.digest == image.digest


@pytest.mark.parametrize(
    ("username", "secret", "slug"),
    [
        ("x", OTHER_TOKEN, "myapp"),  # a token of another app
        ("x", SA_TOKEN, "notmine"),  # a slug the token does not cover
        ("someone@else.example", USER_TOKEN, "myapp"),  # user token with the wrong email
        ("x", "wrong-token-value", "myapp"),  # an unknown token
    ],
)
def test_auth_failures_are_typed_and_do_not_leak(
    make_engine: Callable[..., CopyEngine],
    source_images: ImageBuilder,
    source_registry: Registry,
    vendor_registry: Registry,
    unique: str,
    username: str,
    secret: str,
    slug: str,
) -> None:
    source_images.image(f"acme/{unique}", "1", [1 * KiB])
    engine = make_engine(registry_username=username, registry_token=Secret(secret))
    with pytest.raises(AuthError) as caught:
        engine.copy(
            parse_reference(f"{source_registry.host}/acme/{unique}:1"),
            [destination(vendor_registry.host, slug, unique, "1")],
        )
    assert secret not in str(caught.value)
    assert caught.value.type == "auth"


def test_missing_source_tag_is_not_found(
    engine: CopyEngine, source_registry: Registry, vendor_registry: Registry, unique: str
) -> None:
    with pytest.raises(NotFoundError, match=r"MANIFEST_UNKNOWN|NAME_UNKNOWN"):
        engine.copy(
            parse_reference(f"{source_registry.host}/acme/{unique}:nope"),
            [destination(vendor_registry.host, "myapp", unique, "1")],
        )


def test_tls_to_a_plain_http_registry_fails_once_with_the_setting_to_change(
    make_engine: Callable[..., CopyEngine],
    source_images: ImageBuilder,
    source_registry: Registry,
    vendor_registry: Registry,
    unique: str,
) -> None:
    source_images.image(f"acme/{unique}", "1", [KiB])
    # The source is a real plain-HTTP registry missing from PUSHGATE_INSECURE_REGISTRIES.
    engine = make_engine(insecure_registries=frozenset({vendor_registry.host}))
    with pytest.raises(NetworkError) as caught:
        engine.copy(
            parse_reference(f"{source_registry.host}/acme/{unique}:1"),
            [destination(vendor_registry.host, "myapp", unique, "1")],
        )
    assert caught.value.type == "network"
    assert f"add {source_registry.host} to PUSHGATE_INSECURE_REGISTRIES" in caught.value.detail
    assert "gave up after" not in caught.value.detail
    assert engine.retry.stats.retries == 0


def test_connection_refused_is_network(
    make_engine: Callable[..., CopyEngine], vendor_registry: Registry, unique: str
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    engine = make_engine(
        insecure_registries=frozenset({dead, vendor_registry.host}),
        retry_attempts=2,
        retry_max_wait=0.5,
    )
    with pytest.raises(NetworkError, match="cannot connect"):
        engine.copy(
            parse_reference(f"{dead}/acme/{unique}:1"),
            [destination(vendor_registry.host, "myapp", unique, "1")],
        )


def test_manifest_refused_by_registry_is_rejected_with_its_message(
    engine: CopyEngine, vendor_registry: Registry, unique: str
) -> None:
    missing = "sha256:" + "0" * 64
    raw = (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        f'"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{missing}",'
        '"size":2},"layers":[]}'
    ).encode()
    manifest = parse_manifest(raw, "application/vnd.oci.image.manifest.v1+json")
    repository = engine.repository(vendor_registry.host, f"myapp/{unique}")
    with pytest.raises(RejectedError, match="MANIFEST_BLOB_UNKNOWN"):
        repository.put_manifest("1", manifest)


def test_source_credentials_come_from_docker_config(
    make_engine: Callable[..., CopyEngine],
    private_source: Registry,
    vendor_registry: Registry,
    token_server: TokenServer,
    unique: str,
    tmp_path: Path,
) -> None:
    token = httpx.get(
        token_server.realm,
        auth=("seeder", SOURCE_TOKEN),
        params={
            "service": "pushgate-test-registry",
            "scope": f"repository:acme/{unique}:pull,push",
        },
    ).json()["token"]
    seeder = ImageBuilder(private_source.url, headers={"Authorization": f"Bearer {token}"})
    image = seeder.image(f"acme/{unique}", "1", [2 * KiB])
    seeder.close()
    src = parse_reference(f"{private_source.host}/acme/{unique}:1")
    dest = destination(vendor_registry.host, "myapp", unique, "1")
    insecure = frozenset({private_source.host, vendor_registry.host})
    with pytest.raises(AuthError):  # anonymous: the source refuses
        make_engine(insecure_registries=insecure).copy(src, [dest])
    auth = base64.b64encode(f"ci-reader:{SOURCE_TOKEN}".encode()).decode()
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {private_source.host: {"auth": auth}}})
    )
    engine = make_engine(insecure_registries=insecure, docker_config=tmp_path)
    assert engine.copy(src, [dest]).digest == image.digest


@pytest.mark.parametrize(
    ("key", "registry"),
    [
        ("https://index.docker.io/v1/", "docker.io"),
        ("ghcr.io", "ghcr.io"),
        ("https://quay.io", "quay.io"),
    ],
)
def test_docker_config_lookup_keys(tmp_path: Path, key: str, registry: str) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {key: {"username": "u", "password": "p4ssw0rd-x"}}})
    )
    found = docker_config_credentials(tmp_path, registry)
    assert found is not None and found.basic() == ("u", "p4ssw0rd-x")
    assert "p4ssw0rd-x" not in repr(found)
    assert docker_config_credentials(tmp_path, "other.example") is None
