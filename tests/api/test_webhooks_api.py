"""Webhook fields of the API on real Redis: who may set callback_url, the SSRF check at submit,
the deliveries listing, and configuration errors at start."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from api import create_app
from api.keys import KeyRing
from tests.support.api_keys import HOOK_KEY, WEBHOOK_SECRET, auth
from tests.support.services import Registry
from worker.errors import ConfigurationError
from worker.settings import Settings


def body(registry: Registry, **extra: object) -> dict[str, object]:
    return {"source": f"{registry.host}/acme/worker:1", "app_slug": "myapp", **extra}


def test_callback_is_kept_and_shown_without_its_query(
    client: FlaskClient, source_registry: Registry, redis_client: redis.Redis
) -> None:
    url = "http://127.0.0.1:8080/hook?token=s3cr3t-query"
    response = client.post(
        "/v1/pushes",
        headers=auth(HOOK_KEY),
        json=body(source_registry, callback_url=url, callback_events=["push.started"]),
    )
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert job["callback_url"] == "http://127.0.0.1:8080/hook"
    assert job["callback_events"] == ["push.started"]
    assert "s3cr3t-query" not in response.text and "webhook.secret" not in response.text
    listed = client.get(f"/v1/pushes/{job['id']}/deliveries", headers=auth(HOOK_KEY))
    assert listed.status_code == 200 and listed.get_json() == {"items": []}
    plain = client.post("/v1/pushes", headers=auth(), json=body(source_registry)).get_json()
    assert plain["callback_url"] is None and plain["callback_events"] is None
    dump = json.dumps({k: redis_client.hgetall(k) for k in redis_client.keys("pushgate:job:*")})
    assert WEBHOOK_SECRET not in dump


@pytest.mark.parametrize(
    ("key", "extra", "field", "words"),
    [
        (HOOK_KEY, {"callback_url": "http://evil.example.net/x"}, "callback_url", "HOSTS"),
        (HOOK_KEY, {"callback_url": "http://[::1]:80/x"}, "callback_url", "HOSTS"),
        (HOOK_KEY, {"callback_url": "file:///etc/passwd"}, "callback_url", "http"),
        (HOOK_KEY, {"callback_url": "http://127.0.0.1:99999/"}, "callback_url", "valid"),
        (HOOK_KEY, {"callback_events": ["push.failed"]}, "callback_events", "callback_url"),
        (
            HOOK_KEY,
            {"callback_url": "http://127.0.0.1/", "callback_events": ["push.done"]},
            "callback_events",
            "",
        ),
        (HOOK_KEY, {"callback_url": "http://127.0.0.1/" + "x" * 2100}, "callback_url", ""),
    ],
)
def test_callback_refused_names_the_field(
    client: FlaskClient,
    source_registry: Registry,
    redis_client: redis.Redis,
    key: str,
    extra: dict[str, object],
    field: str,
    words: str,
) -> None:
    response = client.post("/v1/pushes", headers=auth(key), json=body(source_registry, **extra))
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert list(problem["errors"]) == [field] and words in problem["errors"][field][0]
    assert redis_client.keys("pushgate:job:*") == []


def test_deliveries_of_unknown_or_foreign_jobs(
    client: FlaskClient, source_registry: Registry
) -> None:
    assert client.get(f"/v1/pushes/{'0' * 32}/deliveries", headers=auth()).status_code == 404
    job = client.post("/v1/pushes", headers=auth(), json=body(source_registry)).get_json()
    other = client.get(f"/v1/pushes/{job['id']}/deliveries", headers=auth("bot-key-other-0003"))
    assert other.status_code == 403
    assert client.get(f"/v1/pushes/{job['id']}/deliveries").status_code == 401


def test_a_bad_webhooks_file_stops_the_api(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "webhooks.yaml"
    path.write_text("- name: ops\n  url: https://x.example.com/\n  apps: myapp\n")
    with pytest.raises(ConfigurationError) as caught:
        create_app(dataclasses.replace(settings, webhooks_file=path))
    assert str(path) in str(caught.value) and "#1 (ops): `secret_file`" in str(caught.value)


def test_a_key_with_an_unreadable_webhook_secret_is_a_configuration_error(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    (tmp_path / "bad.secret").write_text("not-a-secret")
    entry = {"name": "k", "key_sha256": "a" * 64, "app_slugs": ["*"]}
    keys.write_text(json.dumps([{**entry, "webhook_secret_file": str(tmp_path / "bad.secret")}]))
    with pytest.raises(ConfigurationError, match=r"API key #1 .*webhook_secret_file.*whsec_"):
        KeyRing(keys)


def test_a_callback_from_a_key_without_a_webhook_secret_is_a_403(
    client: FlaskClient, source_registry: Registry, redis_client: redis.Redis
) -> None:
    extra = {"callback_url": "http://127.0.0.1/x"}
    response = client.post("/v1/pushes", headers=auth(), json=body(source_registry, **extra))
    assert response.status_code == 403
    problem = response.get_json()
    assert problem["rule"] == "key.webhook_secret_file" and "secret" in problem["detail"]
    assert redis_client.keys("pushgate:job:*") == []
