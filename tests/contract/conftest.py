"""A live pushgate for contract tests: gunicorn + one Celery worker on real Redis, with a key
allowed every app slug, the audit trail and limits no run reaches, and holding a webhook secret,
so generated requests reach the handlers; both chat platforms enabled."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from deploy.demo_stack.pushgate import service_env, start_api, start_worker
from tests.support.accounts import SA_TOKEN
from tests.support.contract import (
    API_KEY,
    CHAT_SECRET,
    CONTRACT_LIMIT,
    MATTERMOST_TOKEN,
    WEBHOOK_HOST,
    WEBHOOK_SECRET,
    LiveApi,
)
from tests.support.pushgate import redis_db
from tests.support.services import RedisServer, Registry


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
        # Generated requests come fast and leave jobs queued: no 429 may refuse a valid one.
        "rate": CONTRACT_LIMIT,
        "max_active": CONTRACT_LIMIT,
        "audit": True,  # so GET /v1/audit answers 200 and its schema is checked
    }
    keys.write_text(json.dumps([entry]))
    # Both chat platforms on, so the document has their callbacks (signed commands from no
    # mapped user get the chat's refusal; unsigned ones, 401).
    (workdir / "slack.secret").write_text(CHAT_SECRET)
    (workdir / "mattermost.token").write_text(MATTERMOST_TOKEN)
    redis_url = redis_db(redis_server)
    redis.Redis.from_url(redis_url).flushdb()
    env = service_env(
        redis_url,
        source_registry.host,
        vendor_registry.host,
        Path(keys),
        PUSHGATE_PROGRESS_INTERVAL="0.1",
        PUSHGATE_RETRY_ATTEMPTS="1",
        PUSHGATE_WEBHOOK_HOSTS=WEBHOOK_HOST,
        PUSHGATE_SLACK_SIGNING_SECRET_FILE=str(workdir / "slack.secret"),
        PUSHGATE_MATTERMOST_TOKEN_FILE=str(workdir / "mattermost.token"),
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
