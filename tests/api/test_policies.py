"""Per-app policies at the API: a refusal is a 403 naming the rule and the file, and nothing is
stored or queued."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from tests.support.api_keys import WEBHOOK_HOSTS, auth
from tests.support.services import Registry
from worker.celery import QUEUE, QUEUES
from worker.errors import ConfigurationError
from worker.settings import Settings


@pytest.fixture
def apps_file(tmp_path: Path, source_registry: Registry) -> Path:
    """myapp reads its own repositories; otherapp others; `*` nothing."""
    path = tmp_path / "apps.yaml"
    path.write_text(
        f"- app: myapp\n"
        f"  sources: ['{source_registry.host}/myapp/**']\n"
        f"  targets: [replicated]\n"
        f"- app: otherapp\n"
        f"  sources: ['{source_registry.host}/otherapp/*']\n"
        f"  daemon_images: ['otherapp/*']\n"
        f"  targets: []\n"
    )
    return path


@pytest.fixture
def policed(
    settings: Settings, api_keys_file: Path, apps_file: Path, redis_client: redis.Redis
) -> Iterator[Flask]:
    """The API with an apps file."""
    redis_client.flushdb()
    yield create_app(
        dataclasses.replace(
            settings,
            api_keys_file=api_keys_file,
            webhook_hosts=WEBHOOK_HOSTS,
            apps_file=apps_file,
            daemon_sources=True,
        )
    )


def _post(client: FlaskClient, source: str, app: str, key: str, **extra: object) -> object:
    return client.post(
        "/v1/pushes", headers=auth(key), json={"source": source, "app_slug": app, **extra}
    )


def test_an_allowed_push_is_queued(policed: Flask, source_registry: Registry) -> None:
    source = f"{source_registry.host}/myapp/deep/worker:1.0"
    response = _post(policed.test_client(), source, "myapp", "ci-key-myapp-0001")
    assert response.status_code == 202  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("source", "app", "key", "rule"),
    [
        ("{host}/otherapp/secret:1", "myapp", "ci-key-myapp-0001", "sources"),
        ("{host}/myapp/worker:1", "otherapp", "bot-key-other-0003", "sources"),
        ("docker-daemon:myapp/worker:1", "otherapp", "bot-key-other-0003", "daemon_images"),
        ("{host}/otherapp/worker:1", "otherapp", "bot-key-other-0003", "targets"),
        ("{host}/nobody/worker:1", "nobody", "ops-key-all-0002", "app"),
    ],
)
def test_a_refusal_names_the_rule_and_the_file(
    policed: Flask,
    apps_file: Path,
    source_registry: Registry,
    redis_client: redis.Redis,
    source: str,
    app: str,
    key: str,
    rule: str,
) -> None:
    response = _post(policed.test_client(), source.format(host=source_registry.host), app, key)
    assert response.status_code == 403  # type: ignore[attr-defined]
    problem = response.get_json()  # type: ignore[attr-defined]
    assert problem["rule"] == rule and problem["file"] == str(apps_file)
    assert str(apps_file) in problem["detail"]
    assert redis_client.llen(QUEUE) == 0
    assert not redis_client.keys("pushgate:job:*")


def test_a_key_rule_names_the_keys_file(
    policed: Flask, api_keys_file: Path, source_registry: Registry
) -> None:
    source = f"{source_registry.host}/myapp/worker:1"
    response = _post(policed.test_client(), source, "otherapp", "ci-key-myapp-0001")
    assert response.status_code == 403  # type: ignore[attr-defined]
    # The key's app rule answers before the request is even planned.
    assert "may not push to or read app 'otherapp'" in response.get_json()["detail"]  # type: ignore[attr-defined]


def test_a_shared_target_without_app_slug_stops_the_api(settings: Settings, tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        f"- name: shared\n  registry: {settings.registry}\n  repository: 'acme/{{target}}'\n"
    )
    apps = tmp_path / "apps.yaml"
    apps.write_text("- {app: a, targets: [shared]}\n- {app: b, targets: [shared]}\n")
    with pytest.raises(ConfigurationError, match="target shared is shared by a and b"):
        create_app(dataclasses.replace(settings, targets_file=targets, apps_file=apps))


def test_a_plan_for_another_apps_daemon_image_is_refused_and_asks_no_worker(
    policed: Flask, apps_file: Path, redis_client: redis.Redis
) -> None:
    response = policed.test_client().post(
        "/v1/plans",
        headers=auth("bot-key-other-0003"),
        json={"source": "docker-daemon:myapp/worker:1", "app_slug": "otherapp"},
    )
    assert response.status_code == 200
    plan = response.get_json()
    assert plan["allowed"] is False
    refused = {v["rule"]: v["detail"] for v in plan["verdicts"] if not v["allowed"]}
    assert str(apps_file) in refused["daemon_images"], refused
    # Nothing was handed to a worker, so the daemon was never read.
    assert all(redis_client.llen(queue) == 0 for queue in QUEUES)
    assert not redis_client.keys("pushgate:plan:*") and not redis_client.keys("pushgate:job:*")
