"""Schemathesis hooks for the contract test (loaded through SCHEMATHESIS_HOOKS)."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import string
import time
from typing import Any

import schemathesis
from requests.models import RequestEncodingMixin

from api.parameters import IDEMPOTENCY_KEY_PATTERN

MAX_KEY_LENGTH = 255
# The value the config gives X-Slack-Signature: replaced by a real signature of the case.
SIGN_PLACEHOLDER = "sign-this-case"

_ALPHABET = string.ascii_letters + string.digits
_used: set[str] = set()


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """An Idempotency-Key names one request: a drawn key that is valid gets a fresh value (as
    long, and at least 16 characters), so two different bodies never share one (the API rightly
    refuses that, 422). Invalid keys are left as drawn, for the negative checks."""
    headers = case.headers or {}
    _sign_slack(headers, case.body)
    for name, key in list(headers.items()):
        if name.lower() != "idempotency-key" or not isinstance(key, str):
            continue
        if len(key) <= MAX_KEY_LENGTH and re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
            fresh = key
            while fresh in _used or fresh == key:
                fresh = "".join(secrets.choice(_ALPHABET) for _ in range(max(16, len(key))))
            _used.add(fresh)
            headers[name] = fresh


def _sign_slack(headers: dict[str, Any], body: Any) -> None:
    """A case carrying the configured placeholder and a timestamp gets Slack's signature of
    the body requests will send, timed now; any other (no signature, one a check made up, no
    timestamp) stays as drawn."""
    if headers.get("X-Slack-Signature") != SIGN_PLACEHOLDER:
        return
    if "X-Slack-Request-Timestamp" not in headers:  # the check that leaves it out wants a 401
        return
    if isinstance(body, dict):
        raw = RequestEncodingMixin._encode_params(body)
    else:
        raw = body if isinstance(body, str | bytes) else ""
    data = raw.encode() if isinstance(raw, str) else raw
    timestamp = str(int(time.time()))
    secret = os.environ["CONTRACT_SLACK_SECRET"].encode()
    base = b"v0:" + timestamp.encode() + b":" + data
    headers["X-Slack-Request-Timestamp"] = timestamp
    headers["X-Slack-Signature"] = "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
