"""Where a leaked credential would show: every Redis key and value (task messages decoded),
every API answer a test saw, and every log line of the API and the workers."""

from __future__ import annotations

import base64
import json
from typing import Any

import redis


def redis_dump(url: str) -> str:
    """Every key and value of the Redis database at `url`, task message bodies decoded."""
    client = redis.Redis.from_url(url)
    dumped: list[bytes] = []
    try:
        for key in client.scan_iter("*"):
            kind = client.type(key).decode()
            if kind == "string":
                dumped.append(client.get(key) or b"")
            elif kind == "hash":
                dumped += [k + b"=" + v for k, v in client.hgetall(key).items()]
            elif kind == "list":
                for message in client.lrange(key, 0, -1):
                    dumped.append(message)
                    if message.startswith(b"{"):  # a task message; other lists hold plain ids
                        body = json.loads(message).get("body", "")
                        dumped.append(base64.b64decode(body))
            elif kind == "set":
                dumped += list(client.smembers(key))
            elif kind == "zset":
                dumped += [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
            elif kind == "stream":  # the audit trail
                dumped += [v for _, entry in client.xrange(key) for v in entry.values()]
            dumped.append(key)
    finally:
        client.close()
    return b"\n".join(dumped).decode(errors="replace")


def secret_haystacks(service: Any) -> dict[str, str]:
    """Redis, the responses and the logs of a running Service (tests.integration.conftest)."""
    haystacks = {
        "redis": redis_dump(service.env["PUSHGATE_REDIS_URL"]),
        "responses": "\n".join(service.responses),
        "logs": service.logs(),
    }
    assert len(haystacks["logs"]) > 1000  # the logs were really captured
    return haystacks
