"""End to end: HTTP API (gunicorn) -> Redis -> Celery worker -> token-auth vendor registry."""

from __future__ import annotations

import base64
import os

import httpx
import pytest

from deploy.demo_stack.token_server import SERVICE, TokenServer
from tests.support.accounts import SA_TOKEN, SOURCE_TOKEN
from tests.support.images import ImageBuilder, multi_platform
from tests.support.leaks import secret_haystacks
from tests.support.pushgate import Service
from tests.support.services import Registry

KiB = 1024


def test_push_succeeds_and_target_serves_source_digest(
    service: Service,
    source_images: ImageBuilder,
    source_registry: Registry,
    vendor_registry: Registry,
    unique: str,
) -> None:
    image = source_images.image(f"acme/{unique}", "1.0.1", [200 * KiB, 30 * KiB])
    job = service.push(
        source=f"{source_registry.host}/acme/{unique}:1.0.1",
        app_slug="myapp",
        extra_tags=["latest"],
    )
    assert job["status"] == "succeeded", job
    assert job["digest"] == job["source_digest"] == image.digest
    assert job["destinations"] == [
        f"{vendor_registry.host}/myapp/{unique}:1.0.1",
        f"{vendor_registry.host}/myapp/{unique}:latest",
    ]
    assert set(job["served"].values()) == {image.digest}
    assert job["progress"]["blobs_total"] == 3 == job["progress"]["blobs_done"]
    assert job["progress"]["bytes_done"] == job["progress"]["bytes_total"] > 230 * KiB
    assert job["attempts"] == 1
    assert job["started_at"] and job["finished_at"] and job["error"] is None


def test_failures_are_typed(
    service: Service, source_images: ImageBuilder, source_registry: Registry, unique: str
) -> None:
    source_images.image(f"acme/{unique}", "1", [KiB])
    job = service.push(source=f"{source_registry.host}/acme/{unique}:nope", app_slug="myapp")
    assert job["status"] == "failed"
    assert job["error"]["type"] == "not_found"
    assert f"acme/{unique}:nope" in job["error"]["detail"]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_token_never_leaks(
    request: pytest.FixtureRequest,
    log_format: str,
    source_images: ImageBuilder,
    source_registry: Registry,
    private_source: Registry,
    token_server: TokenServer,
    unique: str,
) -> None:
    """Push with a known token (success and an auth failure) and from a source that needs
    credentials, then search for the token and the source credential everywhere (with text
    logs, and with JSON logs)."""
    service: Service = (
        request.getfixturevalue("service")
        if log_format == "text"
        else request.getfixturevalue("observed").service
    )
    source_images.image(f"acme/{unique}", "1", [KiB])
    seed = httpx.get(
        token_server.realm,
        auth=("seeder", SOURCE_TOKEN),
        params={"service": SERVICE, "scope": f"repository:acme/{unique}:pull,push"},
    ).json()["token"]
    seeder = ImageBuilder(private_source.url, headers={"Authorization": f"Bearer {seed}"})
    private = seeder.image(f"acme/{unique}", "private", [KiB])
    seeder.close()
    pushed = service.push(source=f"{private_source.host}/acme/{unique}:private", app_slug="myapp")
    assert pushed["status"] == "succeeded" and pushed["digest"] == private.digest, pushed
    ok = service.push(source=f"{source_registry.host}/acme/{unique}:1", app_slug="shared")
    assert ok["status"] == "succeeded", ok
    # "lockedapp": the API key may push there, the registry token may not.
    failed = service.push(source=f"{source_registry.host}/acme/{unique}:1", app_slug="lockedapp")
    assert failed["status"] == "failed" and failed["error"]["type"] == "auth", failed
    assert "lockedapp" in failed["error"]["detail"]
    service.call("GET", "/v1/pushes")

    forms = {
        SA_TOKEN,
        base64.b64encode(f"pushgate-sa:{SA_TOKEN}".encode()).decode(),
        SOURCE_TOKEN,
        base64.b64encode(f"ci-reader:{SOURCE_TOKEN}".encode()).decode(),
    }
    haystacks = secret_haystacks(service)
    for where, text in haystacks.items():
        for form in forms:
            assert form not in text, f"the registry token appears in {where}"


def test_multi_arch_strip_and_mounts_through_the_service(
    service: Service, source_images: ImageBuilder, source_registry: Registry, unique: str
) -> None:
    shared = [os.urandom(128 * KiB)]
    top, _ = multi_platform(
        source_images, f"acme/{unique}-a", "1", [KiB], attestations="classic", shared=shared
    )
    first = service.push(source=f"{source_registry.host}/acme/{unique}-a:1", app_slug="myapp")
    assert first["status"] == "succeeded", first
    assert first["source_digest"] == top.digest != first["digest"]
    assert [r["reason"] for r in first["removed"]] == ["attestation stripped"] * 2
    source_images.image(f"acme/{unique}-b", "1", [KiB], layers=shared)
    second = service.push(source=f"{source_registry.host}/acme/{unique}-b:1", app_slug="myapp")
    assert second["status"] == "succeeded", second
    assert second["progress"]["blobs_mounted"] == 1
