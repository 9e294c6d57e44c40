"""An idempotent retry gets its job back before any limit is asked."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import redis

from api import create_app
from tests.support.api_keys import WEBHOOK_HOSTS, auth
from tests.support.services import Registry
from worker.settings import Settings


def test_a_retry_over_the_rate_limit_still_gets_its_job(
    settings: Settings, api_keys_file: Path, redis_client: redis.Redis, source_registry: Registry
) -> None:
    redis_client.flushdb()
    app = create_app(
        dataclasses.replace(
            settings, api_keys_file=api_keys_file, webhook_hosts=WEBHOOK_HOSTS, default_rate=1
        )
    )
    client = app.test_client()
    body = {"source": f"{source_registry.host}/acme/w:1", "app_slug": "myapp"}
    headers = {**auth(), "Idempotency-Key": "retry-me"}
    first = client.post("/v1/pushes", headers=headers, json=body)
    assert first.status_code == 202
    other = client.post("/v1/pushes", headers=auth(), json=body)
    assert other.status_code == 429  # the key's one push a minute is spent
    retry = client.post("/v1/pushes", headers=headers, json=body)
    assert retry.status_code == 200 and retry.get_json()["id"] == first.get_json()["id"]
    changed = client.post("/v1/pushes", headers=headers, json={**body, "tag": "2"})
    assert changed.status_code == 422  # another body under the same key: still refused
