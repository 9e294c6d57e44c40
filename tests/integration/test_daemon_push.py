"""Daemon images through the whole service: API -> Redis -> Celery worker -> dockerd -> vendor."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from pushgate_cli.plan import plan_table
from tests.support.daemon_images import build_scratch_image
from tests.support.pushgate import Service, launch, redis_db
from tests.support.services import DockerDaemon, RedisServer, Registry
from tests.support.vendor import served_digest

KiB = 1024
LAYER_LIMIT = 100 * KiB  # target `small`'s, standing in for the vendor's 1.9 GB


@pytest.fixture(scope="module")
def small_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The registry of target `small` (layer_limit 100 KiB), logging every request."""
    registry = Registry(tmp_path_factory.mktemp("small-registry"), access_log=True)
    yield registry
    registry.stop()


@pytest.fixture(scope="module")
def daemon_service(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    vendor_registry: Registry,
    small_registry: Registry,
    docker_daemon: DockerDaemon,
) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("daemon")
    (workdir / "targets.yaml").write_text(
        f"- {{name: small, registry: '{small_registry.host}', insecure: true, "
        f"layer_limit: {LAYER_LIMIT}}}\n"
    )
    svc = launch(
        workdir,
        redis_db(redis_server),
        source_registry.host,
        vendor_registry.host,
        shared_env={
            "PUSHGATE_DAEMON_SOURCES": "1",
            "PUSHGATE_TARGETS_FILE": str(workdir / "targets.yaml"),
        },
        PUSHGATE_DOCKER_HOST=docker_daemon.url,
    )
    yield svc
    svc.stop()


def test_daemon_image_pushed_through_the_service(
    daemon_service: Service,
    docker_client: docker.DockerClient,
    vendor_registry: Registry,
    unique: str,
) -> None:
    image = build_scratch_image(docker_client, f"ci/{unique}:2.0", [200 * KiB, 3 * KiB])
    job = daemon_service.push(
        source=f"docker-daemon:ci/{unique}:2.0", app_slug="myapp", extra_tags=["stable"]
    )
    assert job["status"] == "succeeded", job
    assert job["source"] == f"docker-daemon:docker.io/ci/{unique}:2.0"
    assert job["source_digest"] == image.id
    for tag in ("2.0", "stable"):
        assert served_digest(vendor_registry.url, f"myapp/{unique}", tag) == job["digest"]
    assert job["progress"]["blobs_done"] == job["progress"]["blobs_total"] == 2
    assert sorted(docker_client.images.get(image.id).tags) == [f"ci/{unique}:2.0"]


def test_daemon_failures_are_typed(
    daemon_service: Service, docker_client: docker.DockerClient, unique: str
) -> None:
    missing = daemon_service.push(source=f"docker-daemon:ci/{unique}:absent", app_slug="myapp")
    assert missing["status"] == "failed" and missing["error"]["type"] == "not_found", missing
    image = build_scratch_image(docker_client, f"ci/{unique}:1", [KiB])
    denied = daemon_service.push(source=f"docker-daemon:ci/{unique}:1", app_slug="lockedapp")
    assert denied["status"] == "failed" and denied["error"]["type"] == "auth", denied
    assert sorted(docker_client.images.get(image.id).tags) == [f"ci/{unique}:1"]


def test_a_layer_at_a_targets_limit_is_refused_before_any_byte_is_sent(
    daemon_service: Service,
    docker_client: docker.DockerClient,
    small_registry: Registry,
    unique: str,
) -> None:
    """As for a registry source: `rejected`, naming the layer, its size and the rule, and the
    target's registry sees no write at all (not even of the layers under the limit)."""
    build_scratch_image(docker_client, f"ci/{unique}:big", [3 * KiB, 300 * KiB, 2 * KiB])
    job = daemon_service.push(
        source=f"docker-daemon:ci/{unique}:big", app_slug="myapp", targets=["small"]
    )
    assert job["status"] == "failed" and job["error"]["type"] == "rejected", job
    detail = job["error"]["detail"]
    assert re.search(r"layer sha256:[0-9a-f]{64} is \d+ bytes", detail), detail
    assert "not sent to small" in detail and f"{LAYER_LIMIT} bytes or more" in detail, detail
    size = re.search(r"is (\d+) bytes", detail)
    assert size and int(size.group(1)) >= LAYER_LIMIT
    seen = small_registry.logged_requests(unique)
    assert not [r for r in seen if r.split()[0] in ("POST", "PUT", "PATCH", "DELETE")], seen
    # Under the limit, the same target takes the image.
    build_scratch_image(docker_client, f"ci/{unique}:small", [3 * KiB, 60 * KiB])
    fits = daemon_service.push(
        source=f"docker-daemon:ci/{unique}:small", app_slug="myapp", targets=["small"]
    )
    assert fits["status"] == "succeeded", fits


def _plan(service: Service, source: str) -> dict[str, Any]:
    body = {"source": source, "app_slug": "myapp", "targets": ["small"]}
    answer = service.call("POST", "/v1/plans", json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_plan_for_a_daemon_image_reads_the_daemon_and_writes_nothing(
    daemon_service: Service,
    docker_client: docker.DockerClient,
    small_registry: Registry,
    unique: str,
) -> None:
    source = f"docker-daemon:ci/{unique}:plan"
    image = build_scratch_image(docker_client, f"ci/{unique}:plan", [3 * KiB, 50 * KiB])
    cold = _plan(daemon_service, source)
    assert cold["allowed"] and cold["source_digest"] == image.id and cold["notes"], cold
    [dest] = cold["destinations"]
    assert [tag["state"] for tag in dest["tags"]] == ["new"]
    assert (dest["blobs"]["present"], dest["blobs"]["to_send"]) == (0, 2)
    assert dest["blobs"]["bytes_to_send"] >= 53 * KiB and not dest["limits"]
    table = plan_table(cold)  # what `pushgate push --dry-run` prints
    assert image.id in table and "note: layers this service has not pushed" in table
    seen = small_registry.logged_requests(unique)
    assert seen and not [r for r in seen if r.split()[0] not in ("GET", "HEAD")], seen
    pushed = daemon_service.push(source=source, app_slug="myapp", targets=["small"])
    assert pushed["status"] == "succeeded", pushed
    warm = _plan(daemon_service, source)
    [dest] = warm["destinations"]
    assert [(t["state"], t["from"], t["to"]) for t in dest["tags"]] == [
        ("unchanged", pushed["digest"], pushed["digest"])
    ]
    assert (dest["blobs"]["present"], dest["blobs"]["bytes_to_send"]) == (2, 0)
    assert warm["allowed"] and not warm["notes"], warm


def test_a_daemon_plan_flags_the_layer_limit_and_a_missing_image(
    daemon_service: Service, docker_client: docker.DockerClient, unique: str
) -> None:
    source = f"docker-daemon:ci/{unique}:huge"
    build_scratch_image(docker_client, f"ci/{unique}:huge", [2 * KiB, 300 * KiB])
    unknown = _plan(daemon_service, source)  # not compressed yet: it may reach the limit
    [limit] = unknown["destinations"][0]["limits"]
    assert "may reach" in limit["detail"] and unknown["allowed"], unknown
    refused = daemon_service.push(source=source, app_slug="myapp", targets=["small"])
    assert refused["error"]["type"] == "rejected", refused
    known = _plan(daemon_service, source)  # the refused push counted it
    assert not known["allowed"], known
    [verdict] = [v for v in known["verdicts"] if not v["allowed"]]
    assert verdict["rule"] == "vendor-layer-size" and "not sent to small" in verdict["detail"]
    missing = _plan(daemon_service, f"docker-daemon:ci/{unique}:absent")
    assert missing["error"]["type"] == "not_found" and not missing["allowed"], missing
