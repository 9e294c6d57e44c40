"""Daemon images through the whole service: API -> Redis -> Celery worker -> dockerd -> vendor."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from tests.support.daemon_images import build_scratch_image
from tests.support.pushgate import Service, launch, redis_db
from tests.support.services import DockerDaemon, RedisServer, Registry
from tests.support.vendor import served_digest

KiB = 1024


@pytest.fixture(scope="module")
def daemon_service(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    vendor_registry: Registry,
    docker_daemon: DockerDaemon,
) -> Iterator[Service]:
    svc = launch(
        tmp_path_factory.mktemp("daemon"),
        redis_db(redis_server, 6),
        source_registry.host,
        vendor_registry.host,
        shared_env={"PUSHGATE_DAEMON_SOURCES": "1"},
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
