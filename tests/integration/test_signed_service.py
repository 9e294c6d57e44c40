"""Signatures and SBOMs through the whole service: a POST /v1/pushes answered by gunicorn and run
by a Celery worker process on real Redis, to a Basic-only distribution target that logs every
request. What is attached travels byte for byte and is listed on the job; an app whose apps-file
entry requires a key that did not sign the image is refused with nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.accounts import BASIC_PASSWORD, BASIC_USER
from tests.support.images import ImageBuilder
from tests.support.pushgate import Service, launch, redis_db
from tests.support.services import RedisServer, Registry
from tests.support.signed_stack import ACCEPT
from tests.support.signing import SPDX, SigningKey, signed_image


@dataclass
class SignedService:
    """The service, its logged Basic target `basic`, and the key that signs the images."""

    service: Service
    basic: Registry
    key: SigningKey


@pytest.fixture(scope="module")
def signed_service(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    vendor_registry: Registry,
) -> Iterator[SignedService]:
    """gunicorn + a Celery worker; `myapp` pushes to `basic` as it is, `lockedapp` only what
    keys/release.pub signed (a key the images are not signed with)."""
    workdir = tmp_path_factory.mktemp("signed-service")
    basic = Registry(workdir / "basic", basic=(BASIC_USER, BASIC_PASSWORD), access_log=True)
    SigningKey.make(workdir / "keys", "release.pub")
    (workdir / "pw").write_text(BASIC_PASSWORD)
    (workdir / "targets.yaml").write_text(
        f"- {{name: basic, registry: '{basic.host}', username: {BASIC_USER}, "
        "password_file: pw, insecure: true}\n"
    )
    (workdir / "apps.yaml").write_text(
        '- {app: myapp, sources: ["**"], targets: [basic]}\n'
        '- {app: lockedapp, sources: ["**"], targets: [basic], '
        "verify: {keys: [keys/release.pub]}}\n"
    )
    try:
        service = launch(
            workdir,
            redis_db(redis_server),
            source_registry.host,
            vendor_registry.host,
            shared_env={
                "PUSHGATE_TARGETS_FILE": str(workdir / "targets.yaml"),
                "PUSHGATE_APPS_FILE": str(workdir / "apps.yaml"),
            },
        )
    except BaseException:
        basic.stop()
        raise
    yield SignedService(service, basic, SigningKey.make(workdir / "signer", "signer.pub"))
    service.stop()
    basic.stop()


def _served(basic: Registry, repository: str, digest: str) -> bytes:
    response = httpx.get(
        f"{basic.url}/v2/{repository}/manifests/{digest}",
        auth=(BASIC_USER, BASIC_PASSWORD),
        headers={"Accept": ACCEPT},
    )
    return response.content if response.status_code == 200 else b""


def test_a_signed_image_arrives_with_what_is_attached(
    signed_service: SignedService,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    signed = signed_image(source_images, f"acme/{unique}", "1", signed_service.key)
    job = signed_service.service.push(
        source=f"{source_registry.host}/acme/{unique}:1", app_slug="myapp", targets=["basic"]
    )
    assert job["status"] == "succeeded", job
    [result] = job["results"]
    assert [(c["digest"], c["kind"], c["subject"]) for c in result["carried"]] == [
        (signed.sbom.digest, SPDX, signed.image.digest),
        (signed.signature.digest, "cosign sig", signed.image.digest),
        (signed.sbom_signature.digest, "cosign sig", signed.sbom.digest),
    ]
    for attached in (signed.signature, signed.sbom, signed.sbom_signature):
        assert _served(signed_service.basic, f"myapp/{unique}", attached.digest) == attached.raw


def test_an_image_the_apps_key_did_not_sign_is_refused_unwritten(
    signed_service: SignedService,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    signed = signed_image(source_images, f"acme/{unique}", "1", signed_service.key)
    job = signed_service.service.push(
        source=f"{source_registry.host}/acme/{unique}:1", app_slug="lockedapp", targets=["basic"]
    )
    assert job["status"] == "failed", job
    assert job["error"]["type"] == "rejected"
    assert job["error"]["detail"] == f"no signature by keys/release.pub on {signed.image.digest}"
    logged = signed_service.basic.logged_requests(f"/v2/lockedapp/{unique}/")
    assert logged  # the target was asked what it serves, and only asked
    assert [r for r in logged if r.split()[0] in ("PUT", "PATCH", "POST")] == []


def test_a_plan_names_the_missing_signature_and_writes_nothing(
    signed_service: SignedService,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    signed = signed_image(source_images, f"acme/{unique}", "1", signed_service.key)
    response = signed_service.service.call(
        "POST",
        "/v1/plans",
        json={
            "source": f"{source_registry.host}/acme/{unique}:1",
            "app_slug": "lockedapp",
            "targets": ["basic"],
        },
    )
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["allowed"] is False
    [refused] = [v for v in plan["verdicts"] if not v["allowed"]]
    assert (refused["policy"], refused["rule"]) == ("signatures", "verify")
    assert refused["detail"] == f"no signature by keys/release.pub on {signed.image.digest}"
    logged = signed_service.basic.logged_requests(f"/v2/lockedapp/{unique}/")
    assert [r for r in logged if r.split()[0] in ("PUT", "PATCH", "POST", "DELETE")] == []
