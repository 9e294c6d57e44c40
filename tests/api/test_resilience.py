"""Idempotency keys, and a Redis outage during API calls (stopped, then started again)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from api import create_app
from tests.support.api_keys import auth
from tests.support.services import RedisServer, Registry
from worker.settings import Settings


def body(registry: Registry, tag: str = "1") -> dict[str, object]:
    return {"source": f"{registry.host}/acme/idem:{tag}", "app_slug": "myapp"}


def test_same_idempotency_key_and_body_returns_the_same_job(
    client: FlaskClient, source_registry: Registry, redis_client: redis.Redis
) -> None:
    headers = {**auth(), "Idempotency-Key": "ci-run-4711"}
    first = client.post("/v1/pushes", headers=headers, json=body(source_registry))
    again = client.post("/v1/pushes", headers=headers, json=body(source_registry))
    assert first.status_code == 202 and again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert redis_client.llen("pushgate") == 1  # enqueued once
    changed = client.post("/v1/pushes", headers=headers, json=body(source_registry, "2"))
    assert changed.status_code == 422
    assert changed.content_type == "application/problem+json"
    assert "Idempotency-Key" in changed.get_json()["detail"]


def test_idempotency_keys_are_scoped_per_api_key_and_kept_a_day(
    client: FlaskClient, source_registry: Registry, redis_client: redis.Redis
) -> None:
    mine = client.post(
        "/v1/pushes", headers={**auth(), "Idempotency-Key": "k1"}, json=body(source_registry)
    ).get_json()
    theirs = client.post(
        "/v1/pushes",
        headers={**auth("ops-key-all-0002"), "Idempotency-Key": "k1"},
        json=body(source_registry),
    ).get_json()
    assert mine["id"] != theirs["id"]
    ttls = [redis_client.ttl(k) for k in redis_client.keys("pushgate:idempotency:*")]
    assert len(ttls) == 2 and all(86400 - 60 < t <= 86400 for t in ttls)


@pytest.fixture
def outage_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", persistent=True)
    yield server
    server.stop()


def test_redis_outage_gives_503_and_recovers_without_restart(
    outage_redis: RedisServer,
    settings: Settings,
    api_keys_file: Path,
    source_registry: Registry,
    tmp_path: Path,
) -> None:
    app = create_app(
        dataclasses.replace(settings, redis_url=outage_redis.url, api_keys_file=api_keys_file)
    )
    client = app.test_client()
    before = client.post("/v1/pushes", headers=auth(), json=body(source_registry))
    assert before.status_code == 202
    outage_redis.stop()
    for response in (
        client.post("/v1/pushes", headers=auth(), json=body(source_registry, "2")),
        client.get(before.headers["Location"], headers=auth()),
        client.get("/v1/pushes", headers=auth()),
        client.get("/readyz"),
    ):
        assert response.status_code == 503
        assert response.content_type == "application/problem+json"
        assert response.headers["Retry-After"] == "5"
    assert client.get("/healthz").status_code == 200
    back = RedisServer(tmp_path / "redis", port=outage_redis.port, persistent=True)
    try:
        assert client.get("/readyz").status_code == 200
        after = client.post("/v1/pushes", headers=auth(), json=body(source_registry, "3"))
        assert after.status_code == 202
        listed = client.get("/v1/pushes", headers=auth()).get_json()["items"]
        assert [j["id"] for j in listed] == [after.get_json()["id"], before.get_json()["id"]]
        data = redis.Redis.from_url(back.url)
        assert len(data.keys("pushgate:job:*")) == 2  # the refused POST left nothing behind
        assert data.llen("pushgate") == 2  # and both accepted jobs have their message
    finally:
        back.stop()
