"""Named targets end to end: gunicorn + a Celery worker pushing one image to three registries
at once (the token-auth vendor stand-in, a Basic-only registry, one whose credentials come only
from a credential helper), reading the source with an identity token."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from deploy.demo_stack.token_server import SERVICE, TokenServer
from tests.conftest import BASIC_PASSWORD, BASIC_USER, IDENTITY_TOKEN, SA_TOKEN, SOURCE_TOKEN
from tests.support.helper import HELPER, USERNAME, HelperState
from tests.support.images import ImageBuilder, Pushed
from tests.support.leaks import secret_haystacks
from tests.support.proxy import RegistryProxy
from tests.support.proxy_rules import KnownRepositories, Revocation
from tests.support.pushgate import Service, launch, redis_db
from tests.support.services import RedisServer, Registry
from tests.support.vendor import served_digest

KiB = 1024
LIMITED_KEY = "limited-key-2c7e90aa"
ALL = ["replicated", "basic", "keychain"]


@dataclass
class Stack:
    """The service and the registries behind its targets."""

    service: Service
    basic: RegistryProxy
    ecr: RegistryProxy


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    private_source: Registry,
    vendor_registry: Registry,
    basic_registry: Registry,
    helper_registry: Registry,
    helper_state: HelperState,
) -> Iterator[Stack]:
    """pushgate with a targets file; the source is read with an identity token."""
    workdir = tmp_path_factory.mktemp("targets-service")
    basic = RegistryProxy(basic_registry.port, Revocation())
    ecr = RegistryProxy(source_registry.port, KnownRepositories(set()))
    (workdir / "basic-password").write_text(BASIC_PASSWORD + "\n")
    (workdir / "targets.yaml").write_text(
        f"""
- name: basic
  registry: "{basic.host}"
  repository: "pushgate/{{app_slug}}-{{target}}"
  username: {BASIC_USER}
  password_file: basic-password
  insecure: true
- name: keychain
  registry: "{helper_registry.host}"
  repository: "acme/{{target}}"
  credential_helper: {HELPER}
  insecure: true
- name: ecr
  registry: "{ecr.host}"
  repository: "team/{{target}}"
  insecure: true
"""
    )
    docker_config = workdir / "docker-config"
    docker_config.mkdir()
    (docker_config / "config.json").write_text(
        json.dumps({"auths": {private_source.host: {"identitytoken": IDENTITY_TOKEN}}})
    )
    helper_state.fail_with(None)
    service = launch(
        workdir,
        redis_db(redis_server),
        f"{source_registry.host},{private_source.host}",
        vendor_registry.host,
        shared_env={"PUSHGATE_TARGETS_FILE": str(workdir / "targets.yaml")},
        extra_keys=[
            {
                "name": "limited",
                "app_slugs": ["myapp"],
                "targets": ["replicated"],
                "key_sha256": hashlib.sha256(LIMITED_KEY.encode()).hexdigest(),
            }
        ],
        DOCKER_CONFIG=str(docker_config),
        PUSHGATE_CREDENTIAL_HELPER_TTL="1h",
        **helper_state.env(),
    )
    yield Stack(service, basic, ecr)
    service.stop()
    basic.stop()
    ecr.stop()


def _private_image(
    private_source: Registry, token_server: TokenServer, repository: str, size: int
) -> Pushed:
    seed = httpx.get(
        token_server.realm,
        auth=("seeder", SOURCE_TOKEN),
        params={"service": SERVICE, "scope": f"repository:{repository}:pull,push"},
    ).json()["token"]
    seeder = ImageBuilder(private_source.url, headers={"Authorization": f"Bearer {seed}"})
    try:
        return seeder.image(repository, "1", [size, 3 * KiB])
    finally:
        seeder.close()


def _basic_digest(registry: Registry, repository: str, tag: str, media_type: str) -> str | None:
    response = httpx.head(
        f"{registry.url}/v2/{repository}/manifests/{tag}",
        auth=(BASIC_USER, BASIC_PASSWORD),
        headers={"Accept": media_type},
    )
    return response.headers.get("Docker-Content-Digest")


def test_one_post_pushes_to_three_registries(
    stack: Stack,
    private_source: Registry,
    token_server: TokenServer,
    vendor_registry: Registry,
    basic_registry: Registry,
    helper_registry: Registry,
    unique: str,
) -> None:
    image = _private_image(private_source, token_server, f"acme/{unique}", 150 * KiB)
    source = f"{private_source.host}/acme/{unique}:1"
    job = stack.service.push(source=source, app_slug="myapp", targets=ALL)
    assert job["status"] == "succeeded", job
    assert job["targets"] == ALL and job["digest"] == image.digest
    results = {r["target"]: r for r in job["results"]}
    assert [r["status"] for r in job["results"]] == ["succeeded"] * 3
    assert {r["digest"] for r in job["results"]} == {image.digest}
    assert results["basic"]["registry"] == stack.basic.host
    assert results["basic"]["repository"] == f"pushgate/myapp-{unique}"
    assert results["keychain"]["references"] == [f"{helper_registry.host}/acme/{unique}:1"]
    assert job["progress"]["blobs_total"] == 9 == job["progress"]["blobs_done"]
    assert served_digest(vendor_registry.url, f"myapp/{unique}", "1") == image.digest
    assert served_digest(helper_registry.url, f"acme/{unique}", "1") == image.digest
    media = image.media_type
    assert _basic_digest(basic_registry, f"pushgate/myapp-{unique}", "1", media) == image.digest

    # The same push again: every destination serves the digest, nothing is uploaded again.
    uploads = stack.basic.stats.count("POST", "/blobs/uploads/")
    again = stack.service.push(source=source, app_slug="myapp", targets=ALL)
    assert again["status"] == "succeeded", again
    assert again["progress"]["blobs_skipped"] == 9
    assert stack.basic.stats.count("POST", "/blobs/uploads/") == uploads


def test_the_helper_is_asked_again_after_its_secret_rotated(
    stack: Stack,
    source_images: ImageBuilder,
    source_registry: Registry,
    helper_registry: Registry,
    helper_state: HelperState,
    unique: str,
) -> None:
    image = source_images.image(f"acme/{unique}", "1", [KiB])
    first = stack.service.push(
        source=f"{source_registry.host}/acme/{unique}:1", app_slug="myapp", targets=["keychain"]
    )
    assert first["status"] == "succeeded", first
    helper_state.get(helper_registry.host)  # rotate: the worker's cached secret is now stale
    calls = helper_state.calls
    second = stack.service.push(
        source=f"{source_registry.host}/acme/{unique}:1",
        app_slug="myapp",
        target=f"{unique}-b",
        targets=["keychain"],
    )
    assert second["status"] == "succeeded", second
    assert helper_state.calls == calls + 1
    assert served_digest(helper_registry.url, f"acme/{unique}-b", "1") == image.digest


def test_unknown_and_forbidden_targets(stack: Stack, source_registry: Registry) -> None:
    body = {"source": f"{source_registry.host}/acme/x:1", "app_slug": "myapp"}
    unknown = stack.service.call("POST", "/v1/pushes", json={**body, "targets": ["nope"]})
    assert unknown.status_code == 422, unknown.text
    assert "nope" in unknown.json()["errors"]["targets"][0]
    limited = {"Authorization": f"Bearer {LIMITED_KEY}"}
    forbidden = stack.service.call(
        "POST", "/v1/pushes", json={**body, "targets": ["replicated", "basic"]}, headers=limited
    )
    assert forbidden.status_code == 403, forbidden.text
    assert "basic" in forbidden.json()["detail"]
    allowed = stack.service.call(
        "POST", "/v1/pushes", json={**body, "targets": ["replicated"]}, headers=limited
    )
    assert allowed.status_code == 202, allowed.text


def test_a_revoked_credential_fails_only_its_destination(
    stack: Stack,
    source_images: ImageBuilder,
    source_registry: Registry,
    vendor_registry: Registry,
    helper_registry: Registry,
    unique: str,
) -> None:
    image = source_images.image(f"acme/{unique}", "1", [200 * KiB])
    revocation = stack.basic.rule(Revocation)
    revocation.when = lambda method, path: method == "POST"  # at its first upload
    try:
        job = stack.service.push(
            source=f"{source_registry.host}/acme/{unique}:1", app_slug="myapp", targets=ALL
        )
    finally:
        revocation.revoked, revocation.when = False, None
    assert job["status"] == "failed", job
    assert job["error"]["type"] == "auth"
    assert "1 of 3 destinations failed" in job["error"]["detail"]
    assert f"target basic ({stack.basic.host}/pushgate/myapp-{unique})" in job["error"]["detail"]
    status = {r["target"]: r["status"] for r in job["results"]}
    assert status == {"replicated": "succeeded", "basic": "failed", "keychain": "succeeded"}
    failed = next(r for r in job["results"] if r["target"] == "basic")
    assert failed["error"]["type"] == "auth" and failed["digest"] is None
    assert served_digest(vendor_registry.url, f"myapp/{unique}", "1") == image.digest
    assert served_digest(helper_registry.url, f"acme/{unique}", "1") == image.digest


def test_a_registry_that_does_not_create_repositories(
    stack: Stack, source_images: ImageBuilder, source_registry: Registry, unique: str
) -> None:
    source_images.image(f"acme/{unique}", "1", [KiB])
    job = stack.service.push(
        source=f"{source_registry.host}/acme/{unique}:1", app_slug="myapp", targets=["ecr"]
    )
    assert job["status"] == "failed" and job["error"]["type"] == "rejected", job
    detail = job["error"]["detail"]
    assert f"repository team/{unique} does not exist on {stack.ecr.host}" in detail
    assert f"create team/{unique} on {stack.ecr.host} first" in detail
    assert job["results"][0]["status"] == "failed"
    assert job["results"][0]["error"]["type"] == "rejected"


def test_no_credential_leaks(stack: Stack, helper_state: HelperState) -> None:
    """After the pushes above: the Basic password, every secret the helper handed out, the
    identity token and the vendor token appear nowhere in Redis, API answers or logs."""
    secrets = {
        BASIC_PASSWORD,
        base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode(),
        IDENTITY_TOKEN,
        SA_TOKEN,
        *helper_state.secrets,
        *(base64.b64encode(f"{USERNAME}:{s}".encode()).decode() for s in helper_state.secrets),
    }
    assert len(helper_state.secrets) >= 2
    stack.service.call("GET", "/v1/pushes")
    for where, text in secret_haystacks(stack.service).items():
        for secret in secrets:
            assert secret not in text, f"a credential appears in {where}"
