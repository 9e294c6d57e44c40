"""Slash commands from chat: POST /chatops/slack/commands (signed with the Slack app's signing
secret) and POST /chatops/mattermost/commands (the command's token). Plain Flask, outside the
OpenAPI document: these are chat platforms' callbacks, not calls for API clients."""

from __future__ import annotations

import hmac
import time
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Response, jsonify, request
from slack_sdk.signature import SignatureVerifier

from api import request_audit
from api.chatcommands import run_command
from api.problems import ApiProblem
from api.state import state
from worker.facade import MATTERMOST, SLACK, register_secret
from worker.settings import Secret

MAX_AGE = 5 * 60  # Slack's own advice: refuse requests more than five minutes old
chatops = Blueprint("chatops", __name__, url_prefix="/chatops")


def _refuse(detail: str) -> ApiProblem:
    request_audit.mark("authenticate")
    return ApiProblem(401, "unauthorized", "Unauthorized", detail)


def _configured(secret: Secret | None, what: str, variable: str) -> str:
    if secret is None:
        raise ApiProblem(
            404,
            "not-found",
            "Not Found",
            f"{what} commands are not enabled here (the operator sets {variable})",
        )
    value = secret.reveal()
    register_secret(value)
    return value


def _form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def verify_slack(body: bytes, timestamp: str, signature: str) -> None:
    """401 unless `signature` signs `body` at a `timestamp` under five minutes old, and has not
    been presented before."""
    secret = _configured(
        state().settings.chat.slack_signing_secret, "Slack", "PUSHGATE_SLACK_SIGNING_SECRET_FILE"
    )
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        raise _refuse("X-Slack-Request-Timestamp must be a Unix time") from None
    if age > MAX_AGE:
        raise _refuse("the request is more than 5 minutes old (or the clocks disagree)")
    if not SignatureVerifier(secret).is_valid(body, timestamp, signature):
        raise _refuse("X-Slack-Signature does not sign this request with the app's secret")
    if not state().replays.first_time(signature):
        raise _refuse("this signed request was already received (a replay)")


@chatops.post("/slack/commands")
def slack_command() -> Response:
    """A Slack slash command: verified, answered at once; a push is only queued."""
    body = request.get_data(cache=True)
    verify_slack(
        body,
        request.headers.get("X-Slack-Request-Timestamp", ""),
        request.headers.get("X-Slack-Signature", ""),
    )
    return _answer(run_command(SLACK, _form(body)))


@chatops.post("/mattermost/commands")
def mattermost_command() -> Response:
    """A Mattermost slash command, with the command's token; answered at once."""
    expected = _configured(
        state().settings.chat.mattermost_token, "Mattermost", "PUSHGATE_MATTERMOST_TOKEN_FILE"
    )
    form = _form(request.get_data(cache=True))
    header = request.headers.get("Authorization", "")
    presented = form.get("token") or header.removeprefix("Token ").strip()
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise _refuse("the command's token is not the one this service was given")
    return _answer(run_command(MATTERMOST, form))


def _answer(message: dict[str, Any]) -> Response:
    return jsonify(message)
