"""Secrets are redacted from registry error texts and log lines."""

from __future__ import annotations

import base64
import json
import logging
import urllib.parse
import uuid
from collections.abc import Callable

import httpx
import pytest

from worker.errors import AuthError, RejectedError
from worker.redaction import REDACTED, RedactingFilter, redact, redact_cut, register_secret
from worker.registry.status import raise_for_status, registry_error_summary

SECRET = "s3cr3t-token-for-redaction-test"


@pytest.fixture(autouse=True)
def _register() -> None:
    register_secret(SECRET, "robot")


def _response(status: int, body: str) -> httpx.Response:
    return httpx.Response(
        status,
        content=body.encode(),
        request=httpx.Request("PUT", "http://registry.test/v2/x/manifests/1"),
    )


@pytest.mark.parametrize(("status", "error"), [(400, RejectedError), (401, AuthError)])
def test_registry_error_body_echoing_credentials_is_redacted(
    status: int, error: type[Exception]
) -> None:
    basic = base64.b64encode(f"robot:{SECRET}".encode()).decode()
    body = (
        '{"errors":[{"code":"DENIED","message":"bad credentials ' + SECRET + '",'
        '"detail":"Authorization: Basic ' + basic + '"}]}'
    )
    with pytest.raises(error) as caught:
        raise_for_status(_response(status, body), "pushing")
    text = str(caught.value)
    assert SECRET not in text and basic not in text
    assert "[REDACTED]" in text and "DENIED" in text


def test_non_json_error_body_is_redacted_too() -> None:
    with pytest.raises(RejectedError) as caught:
        raise_for_status(_response(400, f"<html>token={SECRET}</html>"), "pushing")
    assert SECRET not in str(caught.value)


def test_log_filter_redacts_messages_args_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("pushgate.test.redaction")
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("token is %s", SECRET)
        try:
            raise ValueError(f"boom {SECRET}")
        except ValueError:
            logger.exception("failed")
    assert SECRET not in caplog.text
    assert caplog.text.count("[REDACTED]") == 2


def test_tokens_are_forgotten_after_expiry_and_past_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from worker import redaction

    monkeypatch.setattr(redaction, "EXPIRED_GRACE", 0.0)
    monkeypatch.setattr(redaction, "MAX_EXPIRING", 50)
    register_secret("expired-token-0123456789", ttl=-1)
    for n in range(120):
        register_secret(f"short-lived-token-{n:04d}", ttl=300)
    assert redaction.secrets_held() <= 50 + len(redaction._lasting)
    text = "old short-lived-token-0000 new short-lived-token-0119 expired-token-0123456789"
    cleaned = redaction.redact(text)
    assert "short-lived-token-0119" not in cleaned  # recent tokens stay redacted
    assert "short-lived-token-0000" in cleaned  # the oldest went past the cap
    assert "expired-token-0123456789" in cleaned
    assert SECRET not in redaction.redact(SECRET)  # long-lived secrets are kept


@pytest.mark.parametrize(
    "form",
    [
        lambda s: json.dumps({"password": s}),
        lambda s: f"https://x.example/cb?token={urllib.parse.quote(s, safe='')}",
        lambda s: f"q={urllib.parse.quote_plus(s)}",
        lambda s: base64.b64encode(s.encode()).decode(),
        lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
    ],
    ids=["json", "url", "form", "base64", "base64url"],
)
def test_every_encoded_form_of_a_secret_is_redacted(form: Callable[[str], str]) -> None:
    secret = 'enc-"sec/ret+ with\\odd=chars?' + uuid.uuid4().hex
    register_secret(secret)
    text = form(secret)
    assert REDACTED in redact(text) and text not in redact(text)


def test_a_secret_cut_by_the_length_limit_is_still_redacted() -> None:
    secret = "cut-secret-" + uuid.uuid4().hex
    register_secret(secret)
    text = "x" * 180 + secret  # a cut at 200 would keep the secret's first 20 characters
    assert redact_cut(text, 200) == "x" * 180 + REDACTED


def test_registry_error_bodies_are_redacted_before_they_are_cut() -> None:
    secret = "body-secret-" + uuid.uuid4().hex
    register_secret(secret)
    body = json.dumps({"errors": [{"code": "DENIED", "message": "m" * 290 + secret}]}).encode()
    summary = registry_error_summary(body)
    assert secret[:8] not in summary
