"""What a POST costs Redis: a queued push is one round trip (limits, record, message, indexes
and audit event in one script), and a refused one writes nothing but its audit event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from tests.support.api_keys import auth
from tests.support.services import Registry
from worker.celery import QUEUE
from worker.jobs.keys import AUDIT_KEY, job_index


@contextmanager
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the commands (or pipelines, or scripts) sent to Redis inside the block."""
    sent: list[int] = []
    send = redis.connection.Connection.send_packed_command

    def counted(connection: redis.connection.Connection, *args: Any, **kwargs: Any) -> None:
        sent.append(1)
        send(connection, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(redis.connection.Connection, "send_packed_command", counted)
        yield sent


def test_a_queued_push_costs_one_round_trip_and_writes_everything(
    client: FlaskClient,
    source_registry: Registry,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = {"source": f"{source_registry.host}/acme/worker:1", "app_slug": "myapp"}
    assert client.post("/v1/pushes", headers=auth(), json=body).status_code == 202  # warm
    with round_trips(monkeypatch) as sent:
        response = client.post("/v1/pushes", headers=auth(), json=body)
    assert response.status_code == 202 and len(sent) == 1
    job = response.get_json()
    assert redis_client.llen(QUEUE) == 2
    assert client.get(f"/v1/pushes/{job['id']}", headers=auth()).get_json() == job
    listed = client.get("/v1/pushes?app_slug=myapp", headers=auth()).get_json()["items"]
    assert listed[0]["id"] == job["id"]
    events = [json.loads(fields["event"]) for _, fields in redis_client.xrange(AUDIT_KEY)]
    assert [(e["job_id"], e["result"], e["status"]) for e in events][-1] == (
        job["id"],
        "accepted",
        202,
    )
    assert len(events) == 2  # one event a push, not one more for the 202 after the script


def test_a_push_over_the_rate_writes_no_job_and_audits_the_refusal(
    client: FlaskClient, source_registry: Registry, redis_client: redis.Redis
) -> None:
    app_state = client.application.extensions["pushgate"]
    body = {"source": f"{source_registry.host}/acme/worker:1", "app_slug": "myapp"}
    for _ in range(app_state.settings.default_rate):
        assert client.post("/v1/pushes", headers=auth(), json=body).status_code == 202
    refused = client.post("/v1/pushes", headers=auth(), json=body)
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert redis_client.llen(QUEUE) == app_state.settings.default_rate
    assert redis_client.zcard(job_index(None)) == app_state.settings.default_rate
    last = json.loads(redis_client.xrevrange(AUDIT_KEY, count=1)[0][1]["event"])
    assert (last["result"], last["status"], last["job_id"]) == ("refused", 429, None)
