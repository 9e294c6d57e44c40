"""Schemathesis hooks for the contract test (loaded through SCHEMATHESIS_HOOKS)."""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

import schemathesis

from api.parameters import IDEMPOTENCY_KEY_PATTERN

MAX_KEY_LENGTH = 255

_ALPHABET = string.ascii_letters + string.digits
_used: set[str] = set()


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """An Idempotency-Key names one request: a drawn key that is valid gets a fresh value (as
    long, and at least 16 characters), so two different bodies never share one (the API rightly
    refuses that, 422). Invalid keys are left as drawn, for the negative checks."""
    headers = case.headers or {}
    for name, key in list(headers.items()):
        if name.lower() != "idempotency-key" or not isinstance(key, str):
            continue
        if len(key) <= MAX_KEY_LENGTH and re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
            fresh = key
            while fresh in _used or fresh == key:
                fresh = "".join(secrets.choice(_ALPHABET) for _ in range(max(16, len(key))))
            _used.add(fresh)
            headers[name] = fresh
