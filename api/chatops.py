"""Slash commands from chat: POST /chatops/slack/commands (signed with the Slack app's signing
secret) and POST /chatops/mattermost/commands (the command's token). The signature or token is
checked on the raw body before the form is read, so an unverified caller gets only a 401."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import request
from flask_smorest import Blueprint
from slack_sdk.signature import SignatureVerifier

from api import request_audit
from api.chatcommands import run_command
from api.problems import ApiProblem
from api.schemas.chat import ChatCommandSchema, ChatMessageSchema
from api.spec import problems
from api.state import state
from worker.facade import MATTERMOST, SLACK, register_secret
from worker.settings import Secret

MAX_AGE = 5 * 60  # Slack's own advice: refuse requests more than five minutes old
SLACK_PATH, MATTERMOST_PATH = "/chatops/slack/commands", "/chatops/mattermost/commands"
# How each platform proves itself, as OpenAPI security schemes (registered by create_app).
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "slackSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Slack-Signature",
        "description": "`v0=` and the HMAC-SHA256, under the Slack app's signing secret, of "
        "`v0:TIMESTAMP:BODY`; requests more than 5 minutes old, or seen before, are refused.",
    },
    "mattermostToken": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Token TOKEN`, the slash command's token (or the form's `token`).",
    },
}
SLACK_TIMESTAMP = {
    "in": "header",
    "name": "X-Slack-Request-Timestamp",
    "required": True,
    "description": "When Slack signed the request (Unix time).",
    "schema": {"type": "string"},
}
NOT_ENABLED = "This platform's commands are not enabled here (its own /openapi.json omits them)."
chatops = Blueprint(
    "chatops",
    __name__,
    url_prefix="/chatops",
    description="Slash commands from Slack and Mattermost (the platforms call these).",
)
View = TypeVar("View", bound=Callable[..., Any])


def _refuse(detail: str, challenge: str) -> ApiProblem:
    request_audit.mark("authenticate")
    headers = {"WWW-Authenticate": f'{challenge} realm="pushgate"'}
    return ApiProblem(401, "unauthorized", "Unauthorized", detail, headers)


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


def verify_slack(body: bytes, timestamp: str, signature: str) -> None:
    """401 unless `signature` signs `body` at a `timestamp` under five minutes old, and has not
    been presented before."""
    secret = _configured(
        state().settings.chat.slack_signing_secret, "Slack", "PUSHGATE_SLACK_SIGNING_SECRET_FILE"
    )
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        raise _refuse("X-Slack-Request-Timestamp must be a Unix time", "Slack-Signature") from None
    if age > MAX_AGE:
        raise _refuse(
            "the request is more than 5 minutes old (or the clocks disagree)", "Slack-Signature"
        )
    if not SignatureVerifier(secret).is_valid(body, timestamp, signature):
        raise _refuse(
            "X-Slack-Signature does not sign this request with the app's secret", "Slack-Signature"
        )
    if not state().replays.first_time(signature):
        raise _refuse("this signed request was already received (a replay)", "Slack-Signature")


def _slack_request() -> None:
    verify_slack(
        request.get_data(cache=True),
        request.headers.get("X-Slack-Request-Timestamp", ""),
        request.headers.get("X-Slack-Signature", ""),
    )


def _mattermost_request() -> None:
    expected = _configured(
        state().settings.chat.mattermost_token, "Mattermost", "PUSHGATE_MATTERMOST_TOKEN_FILE"
    )
    request.get_data(cache=True)  # the form is then parsed from the cached body
    header = request.headers.get("Authorization", "")
    presented = request.form.get("token") or header.removeprefix("Token ").strip()
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise _refuse("the command's token is not the one this service was given", "Token")


def verified(check: Callable[[], None]) -> Callable[[View], View]:
    """Run `check` (which raises the 401) before the form is parsed and the view runs."""

    def decorate(view: View) -> View:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            check()
            return view(*args, **kwargs)

        return cast(View, checked)

    return decorate


_CHAT_PROBLEMS = {
    "_404": NOT_ENABLED,
    "_413": "The body is larger than 64 KiB.",
}


@chatops.route("/slack/commands", methods=["POST"])
@verified(_slack_request)
@chatops.arguments(ChatCommandSchema, location="form", required=False)
@chatops.response(200, ChatMessageSchema, description="The message Slack shows at once.")
@chatops.doc(security=[{"slackSignature": []}], parameters=[SLACK_TIMESTAMP])
@problems(chatops, _401="Not signed with the app's secret, too old, or a replay.", **_CHAT_PROBLEMS)
def slack_command(form: dict[str, str]) -> dict[str, Any]:
    """A Slack slash command: verified, answered at once; a push is only queued."""
    return run_command(SLACK, form)


@chatops.route("/mattermost/commands", methods=["POST"])
@verified(_mattermost_request)
@chatops.arguments(ChatCommandSchema, location="form", required=False)
@chatops.response(200, ChatMessageSchema, description="The message Mattermost shows at once.")
@chatops.doc(security=[{"mattermostToken": []}])
@problems(chatops, _401="Not the command's token.", **_CHAT_PROBLEMS)
def mattermost_command(form: dict[str, str]) -> dict[str, Any]:
    """A Mattermost slash command, with the command's token; answered at once."""
    return run_command(MATTERMOST, form)
