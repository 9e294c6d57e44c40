"""The push task's message written by the job store is the message Celery itself sends."""

from __future__ import annotations

import base64
import json
from typing import Any

import redis

from tests.support.services import RedisServer
from worker.celery import QUEUE, create_celery, enqueue_push, push_message
from worker.settings import Settings


def _decoded(raw: str) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(raw)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


def test_the_message_is_the_one_celery_sends(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    redis_client.delete(QUEUE)
    app = create_celery(Settings(redis_url=redis_server.url))
    enqueue_push(app, "job-sent-by-celery")
    sent = _decoded(str(redis_client.rpop(QUEUE)))
    queue, raw = push_message(app, "job-written-with-its-record")
    built = _decoded(raw)
    assert queue == QUEUE
    assert built["body"][0] == ["job-written-with-its-record"]
    assert built["body"][1:] == sent["body"][1:]
    assert set(built) == set(sent)
    assert set(built["headers"]) == set(sent["headers"])
    assert built["headers"]["task"] == sent["headers"]["task"] == "pushgate.push"
    for name in ("delivery_info", "delivery_mode", "priority", "body_encoding"):
        assert built["properties"][name] == sent["properties"][name], name
    assert set(built["properties"]) == set(sent["properties"])
    assert built["headers"]["id"] == built["properties"]["correlation_id"]
