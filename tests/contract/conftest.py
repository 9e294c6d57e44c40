"""A live pushgate for contract tests: gunicorn + one Celery worker on real Redis, with a key
allowed every app slug and holding a webhook secret, so generated requests reach the handlers."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.conftest import SA_TOKEN
from tests.support.services import Process, RedisServer, Registry
from tests.support.stack import service_env, start_api, start_worker

API_KEY = "contract-key-7d1c9a"
REDIS_DB = 9
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"contract-webhook-secret-0123").decode()
# The one callback host: it resolves without DNS, so the served pattern says all there is to
# say about which callback_url is accepted.
WEBHOOK_HOST = "localhost"


@dataclass
class LiveApi:
    """A running pushgate: its base URL, the key, and its processes."""

    url: str
    api_key: str
    source: Registry
    processes: list[Process]

    def logs(self) -> str:
        """Everything the API and the worker logged so far."""
        return "\n".join(p.log.read_text(errors="replace") for p in self.processes)


@pytest.fixture(scope="module")
def live_api(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    vendor_registry: Registry,
) -> Iterator[LiveApi]:
    """gunicorn + a Celery worker pushing from the plain source registry to the vendor one."""
    workdir = tmp_path_factory.mktemp("contract")
    keys = workdir / "keys.json"
    digest = hashlib.sha256(API_KEY.encode()).hexdigest()
    secret = workdir / "webhook.secret"
    secret.write_text(WEBHOOK_SECRET)
    entry = {
        "name": "contract",
        "app_slugs": ["*"],
        "key_sha256": digest,
        "webhook_secret_file": str(secret),
    }
    keys.write_text(json.dumps([entry]))
    redis_url = redis_server.url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    env = service_env(
        redis_url,
        source_registry.host,
        vendor_registry.host,
        Path(keys),
        PUSHGATE_PROGRESS_INTERVAL="0.1",
        PUSHGATE_RETRY_ATTEMPTS="1",
        PUSHGATE_WEBHOOK_HOSTS=WEBHOOK_HOST,
    )
    api, url = start_api(env, workdir)
    processes = [api]
    try:
        worker_env = {
            **env,
            "PUSHGATE_REGISTRY_TOKEN": SA_TOKEN,
            "PUSHGATE_REGISTRY_USERNAME": "pushgate-sa",
        }
        processes.append(start_worker(worker_env, workdir, "contract"))
        yield LiveApi(url, API_KEY, source_registry, processes)
    finally:
        for process in reversed(processes):
            process.stop()
