"""The whole service as separate processes: gunicorn (API) and a Celery worker on real Redis."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator

import pytest

from tests.support.accounts import SOURCE_TOKEN
from tests.support.observed import OBSERVER_KEYS, Observed, docker_config
from tests.support.proxy import Faults, RegistryProxy
from tests.support.pushgate import Service, launch, redis_db, wait_key_entries
from tests.support.services import RedisServer, Registry, free_port


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
        redis_db(redis_server),
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
        redis_db(redis_server),
        source_registry.host,
        vendor_registry.host,
        workers=0,
        extra_keys=wait_key_entries(),
    )
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def observed(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    private_source: Registry,
    vendor_registry: Registry,
) -> Iterator[Observed]:
    """gunicorn + two Celery workers with JSON logs, each serving /metrics on its own port;
    the keys of OBSERVER_KEYS besides the pipeline's; a proxy of the source registry whose
    blob reads wait until `gate` is set."""
    workdir = tmp_path_factory.mktemp("observed")
    gate = threading.Event()

    def hold_blobs(method: str, path: str, nth: int) -> None:
        if "/blobs/" in path:
            gate.wait(120)

    proxy = RegistryProxy(source_registry.port, faults=Faults(plan=hold_blobs))
    keys = [
        {"name": name, "key_sha256": hashlib.sha256(key.encode()).hexdigest(), **extra}
        for name, (key, extra) in OBSERVER_KEYS.items()
    ]
    svc = launch(
        workdir,
        redis_db(redis_server),
        f"{source_registry.host},{private_source.host},{proxy.host}",
        vendor_registry.host,
        workers=0,
        shared_env={"PUSHGATE_LOG_FORMAT": "json"},
        extra_keys=keys,
        DOCKER_CONFIG=str(docker_config(workdir, private_source)),
    )
    urls = []
    try:
        for name in ("w1", "w2"):
            port = free_port()
            svc.start_worker(name, PUSHGATE_METRICS_PORT=str(port))
            urls.append(f"http://127.0.0.1:{port}/metrics")
    except BaseException:
        svc.stop()
        proxy.stop()
        raise
    yield Observed(svc, proxy, gate, urls)
    gate.set()
    svc.stop()
    proxy.stop()
