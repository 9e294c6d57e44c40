"""A chat platform for tests: slash commands signed as Slack signs them (with slack_sdk, from
the signing secret) or carrying Mattermost's token, posted to a running pushgate."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from tests.support.receiver import Received

SLACK_TEAM, SLACK_CHANNEL, SLACK_USER = "T0RELEASE", "C0RELEASES", "U0ALICE"
MM_TEAM, MM_CHANNEL, MM_USER = "mmteam1", "mmchannel1", "mmuser1"


@dataclass
class SignedRequest:
    """One Slack request, exactly as sent (to replay it byte for byte)."""

    body: str
    headers: dict[str, str]


def slack_form(text: str, response_url: str, trigger_id: str, **over: str) -> dict[str, str]:
    """A slash command's form fields, as Slack posts them."""
    return {
        "token": "deprecated-verification-token",
        "team_id": SLACK_TEAM,
        "team_domain": "acme",
        "channel_id": SLACK_CHANNEL,
        "channel_name": "releases",
        "user_id": SLACK_USER,
        "user_name": "alice",
        "command": "/pushgate",
        "text": text,
        "response_url": response_url,
        "trigger_id": trigger_id,
        **over,
    }


def mattermost_form(text: str, response_url: str, trigger_id: str, token: str) -> dict[str, str]:
    """A Mattermost slash command's form fields."""
    return {
        "token": token,
        "team_id": MM_TEAM,
        "team_domain": "acme",
        "channel_id": MM_CHANNEL,
        "channel_name": "releases",
        "user_id": MM_USER,
        "user_name": "bob",
        "command": "/pushgate",
        "text": text,
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def sign(secret: str, form: dict[str, str], at: float | None = None) -> SignedRequest:
    """The form body and Slack's signature headers for it, at time `at` (default: now)."""
    body = urlencode(form)
    timestamp = str(int(time.time() if at is None else at))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return SignedRequest(
        body,
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature or "",
        },
    )


def send(base_url: str, path: str, request: SignedRequest) -> httpx.Response:
    """POST a prepared request to pushgate."""
    return httpx.post(base_url + path, content=request.body, headers=request.headers, timeout=30)


def chat_text(request: Received) -> str:
    """The plain-text fallback of a message posted to a response_url."""
    return str(json.loads(request.body)["text"])


def blocks(request: Received) -> list[dict[str, Any]]:
    """The Block Kit blocks of a message posted to a response_url."""
    return list(json.loads(request.body).get("blocks") or [])
