"""The whole service as separate processes: gunicorn (API) and a Celery worker on real Redis."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from tests.support.accounts import SOURCE_TOKEN
from tests.support.pushgate import Service, launch, redis_db
from tests.support.services import RedisServer, Registry


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    private_source: Registry,
    vendor_registry: Registry,
) -> Iterator[Service]:
    """gunicorn + one Celery worker pushing straight to the vendor stand-in; the worker reads
    the private source with credentials from a Docker config.json."""
    workdir = tmp_path_factory.mktemp("service")
    docker_config = workdir / "docker-config"
    docker_config.mkdir()
    auth = base64.b64encode(f"ci-reader:{SOURCE_TOKEN}".encode()).decode()
    (docker_config / "config.json").write_text(
        json.dumps({"auths": {private_source.host: {"auth": auth}}})
    )
    svc = launch(
        workdir,
        redis_db(redis_server, 3),
        f"{source_registry.host},{private_source.host}",
        vendor_registry.host,
        DOCKER_CONFIG=str(docker_config),
    )
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def idle_service(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    vendor_registry: Registry,
) -> Iterator[Service]:
    """gunicorn without any Celery worker: jobs stay queued until a test changes them."""
    svc = launch(
        tmp_path_factory.mktemp("idle-service"),
        redis_db(redis_server, 9),
        source_registry.host,
        vendor_registry.host,
        workers=0,
    )
    yield svc
    svc.stop()
