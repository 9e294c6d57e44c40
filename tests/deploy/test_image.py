"""The container image `make image` builds, run as production runs it: an API container and
a worker container (non-root, read-only root file system) push an image through the test
registries and Redis. The test dockerd has no bridge, so containers use the host's network."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from docker.models.containers import Container

from deploy.demo_stack.pushgate import service_env
from tests.support.accounts import SA_TOKEN
from tests.support.images import ImageBuilder
from tests.support.installs import push_and_wait
from tests.support.pushgate import API_KEY, redis_db
from tests.support.services import RedisServer, Registry, ServiceFailed, free_port, wait_until
from worker.celery import QUEUES

KiB = 1024
KEYS_IN_CONTAINER = "/run/config/api-keys.yaml"
# The first test builds the Debian base and the image (vfs storage copies every layer): minutes.
pytestmark = pytest.mark.timeout(1800)
API_COMMAND = ["gunicorn", "--config=python:worker.gunicorn_conf", "--workers=1", "--threads=8"]
API_COMMAND += ["--worker-class=gthread", "api:create_app()"]
WORKER_COMMAND = ["celery", "--app=worker", "worker", "--loglevel=INFO", "--pool=threads"]
WORKER_COMMAND += ["--concurrency=2", f"--queues={','.join(QUEUES)}", "--without-gossip"]
WORKER_COMMAND += ["--without-mingle", "--hostname=image@%h"]


def container_env(
    redis_server: RedisServer, source: Registry, vendor: Registry, keys: Path
) -> dict[str, str]:
    """The PUSHGATE_* settings the tests' own services get, and nothing of this host's."""
    env = service_env(redis_db(redis_server), source.host, vendor.host, keys)
    return {
        **{k: v for k, v in env.items() if k.startswith("PUSHGATE_")},
        "PUSHGATE_API_KEYS_FILE": KEYS_IN_CONTAINER,
    }


def run(client: docker.DockerClient, tag: str, argv: list[str], **options: Any) -> Container:
    """A detached container as Kubernetes runs ours: read-only root, a writable /tmp."""
    container: Container = client.containers.run(
        tag, argv, detach=True, network_mode="host", read_only=True, tmpfs={"/tmp": ""}, **options
    )
    return container


def wait_for_container(container: Container, check: Any, what: str) -> None:
    """Wait until `check()`; on failure the container's log is in the error."""
    try:
        wait_until(check, 90, what, interval=0.2)
    except ServiceFailed as exc:
        raise ServiceFailed(f"{exc}\n{container.logs().decode(errors='replace')[-3000:]}") from None


@pytest.fixture(scope="module")
def containers(
    docker_client: docker.DockerClient,
    pushgate_image: str,
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    vendor_registry: Registry,
) -> Iterator[tuple[str, Container, Container]]:
    """The API and worker containers; yields (API URL, api, worker)."""
    keys = tmp_path_factory.mktemp("image") / "api-keys.yaml"
    digest = hashlib.sha256(API_KEY.encode()).hexdigest()
    keys.write_text(json.dumps([{"name": "ci", "app_slugs": ["myapp"], "key_sha256": digest}]))
    keys.chmod(0o644)
    env = container_env(redis_server, source_registry, vendor_registry, keys)
    port = free_port()
    started: list[Container] = []
    try:
        api = run(
            docker_client,
            pushgate_image,
            [*API_COMMAND, f"--bind=127.0.0.1:{port}"],
            environment=env,
            volumes={str(keys): {"bind": KEYS_IN_CONTAINER, "mode": "ro"}},
        )
        started.append(api)
        worker = run(
            docker_client,
            pushgate_image,
            WORKER_COMMAND,
            environment={**env, "PUSHGATE_REGISTRY_TOKEN": SA_TOKEN},
        )
        started.append(worker)
        url = f"http://127.0.0.1:{port}"
        wait_for_container(api, lambda: httpx.get(url + "/healthz").status_code == 200, "API")
        wait_for_container(worker, lambda: b"ready." in worker.logs(), "worker")
        yield url, api, worker
    finally:
        for container in started:
            container.remove(force=True)


def test_api_and_worker_containers_push_an_image(
    containers: tuple[str, Container, Container],
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    url, _, _ = containers
    image = source_images.image(f"acme/{unique}", "1", [64 * KiB, 8 * KiB])
    job = push_and_wait(url, f"{source_registry.host}/acme/{unique}:1")
    assert job["status"] == "succeeded", job
    assert job["digest"] == image.digest


def test_containers_run_as_non_root_on_a_read_only_root(
    containers: tuple[str, Container, Container],
) -> None:
    _, api, worker = containers
    for container in (api, worker):
        assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True
        code, uid = container.exec_run(["id", "-u"])
        assert code == 0 and uid.decode().strip() not in ("", "0")
        code, _ = container.exec_run(["touch", "/opt/pushgate/probe"])
        assert code != 0  # nothing outside /tmp is writable
