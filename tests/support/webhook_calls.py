"""Helpers for the webhook tests: the bot key and its secret, submitting a push with a
callback, and reading a job's deliveries until they settle."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

from tests.support.images import ImageBuilder
from tests.support.pushgate import Service
from tests.support.services import Registry

KiB = 1024
BOT_KEY = "chatops-bot-key-7d41"
BOT = {"Authorization": f"Bearer {BOT_KEY}"}


def new_secret() -> str:
    """A fresh Standard Webhooks secret."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


BOT_SECRET = new_secret()
SUB_SECRET = new_secret()
SETTLED = ("delivered", "failed", "gone", "disabled")


def deliveries(svc: Service, job_id: str) -> list[dict[str, Any]]:
    """The job's deliveries as the API shows them."""
    response = svc.call("GET", f"/v1/pushes/{job_id}/deliveries", headers=BOT)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def wait_settled(svc: Service, job_id: str, count: int | None) -> list[dict[str, Any]]:
    """Wait until the job has `count` deliveries (None: any) and none is pending any more."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = deliveries(svc, job_id)
        settled = all(d["state"] in SETTLED for d in found)
        if found and len(found) == (count or len(found)) and settled:
            return found
        time.sleep(0.05)
    raise AssertionError(f"deliveries of {job_id} did not settle: {found}")


def push_with_callback(
    svc: Service, images: ImageBuilder, source: Registry, unique: str, url: str, **extra: Any
) -> str:
    """Submit a small push with a callback, as the bot; returns the job id."""
    images.image(f"acme/{unique}", "1", [KiB, 2 * KiB])
    body = {"source": f"{source.host}/acme/{unique}:1", "app_slug": "myapp", "callback_url": url}
    response = svc.call("POST", "/v1/pushes", headers=BOT, json={**body, **extra})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def write_secrets_and_subscriptions(workdir: Path, gone_url: str, slack_url: str) -> None:
    """Write the bot's and the subscription's secret files, and `webhooks.json` with two
    standing subscriptions for app `goneapp`: `ops-gone` (signed) and `chat` (slack)."""
    (workdir / "bot.secret").write_text(BOT_SECRET + "\n")
    (workdir / "ops.secret").write_text(SUB_SECRET)
    subscriptions = [
        {
            "name": "ops-gone",
            "url": gone_url,
            "secret_file": str(workdir / "ops.secret"),
            "apps": ["goneapp"],
        },
        {"name": "chat", "url": slack_url, "apps": ["goneapp"], "format": "slack"},
    ]
    (workdir / "webhooks.json").write_text(json.dumps(subscriptions))
