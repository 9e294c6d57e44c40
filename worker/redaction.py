"""Keep credentials out of logs and error texts: one process-wide list of secret values.

Long-lived secrets (credentials, webhook secrets) stay for the life of the process; registry
tokens are kept until a while after they expire, and only the most recent MAX_EXPIRING of them
(a token can only be echoed back while a job uses it), so a worker that fetched tokens for
100,000 pushes holds what one that ran 1,000 does. redact() scans a cached, sorted tuple.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"
# A token is still redacted this long after it expired (clock skew, slow log shipping).
EXPIRED_GRACE = 600.0
MAX_EXPIRING = 2048  # forms of short-lived tokens (a few each); the oldest go first
_lock = threading.Lock()
_lasting: set[str] = set()
_expiring: dict[str, float] = {}  # token -> when it may be forgotten (monotonic), oldest first
_ordered: tuple[str, ...] | None = None  # every secret, longest first; None when stale


def register_secret(value: str, username: str | None = None, ttl: float | None = None) -> None:
    """Add `value` (and its Basic-auth encodings with `username`) to what is redacted; with
    `ttl` (a token's lifetime in seconds) it is forgotten a while after it expires."""
    global _ordered
    if len(value) < 4:
        return
    forms = encoded_forms(value)
    if username is not None:
        forms.add(base64.b64encode(f"{username}:{value}".encode()).decode())
    with _lock:
        if ttl is None:
            if forms <= _lasting:
                return
            _lasting.update(forms)
        else:
            now = time.monotonic()
            _forget_expired(now)
            for form in forms:
                _expiring.pop(form, None)  # re-inserted last: the dict stays oldest first
                _expiring[form] = now + ttl + EXPIRED_GRACE
            while len(_expiring) > MAX_EXPIRING:
                del _expiring[next(iter(_expiring))]
        _ordered = None


def encoded_forms(value: str) -> set[str]:
    """`value` as it may appear in a text: itself, JSON-escaped, URL-encoded (both ways) and
    base64 (standard and URL-safe, with and without padding)."""
    raw = value.encode()
    forms = {
        value,
        json.dumps(value)[1:-1],
        quote(value, safe=""),
        quote_plus(value, safe=""),
    }
    for encoded in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        forms.update({encoded, encoded.rstrip("=")})
    return {form for form in forms if len(form) >= 4}


def redact_cut(text: str, limit: int) -> str:
    """`text` redacted, then cut to `limit` characters: cutting first could leave the start
    of a secret that no longer matches."""
    return redact(text)[:limit]


def _forget_expired(now: float) -> None:
    """Drop tokens past their expiry and grace (the caller holds the lock)."""
    global _ordered
    expired = [token for token, until in _expiring.items() if until <= now]
    for token in expired:
        del _expiring[token]
    if expired:
        _ordered = None


def _current_secrets() -> tuple[str, ...]:
    global _ordered
    with _lock:
        if _ordered is None:
            # Longest first, so a secret that contains another is replaced whole.
            _ordered = tuple(sorted(_lasting | _expiring.keys(), key=len, reverse=True))
        return _ordered


def secrets_held() -> int:
    """How many secret forms are held now (for tests of the bound)."""
    with _lock:
        _forget_expired(time.monotonic())
        return len(_lasting) + len(_expiring)


def redact(text: str) -> str:
    """`text` with every registered secret replaced by [REDACTED]."""
    for secret in _current_secrets():
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets from the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with secrets redacted; never drops a record."""
        if not _lasting and not _expiring:
            return True
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(exc_text)
            record.exc_info = None
            record.msg = f"{record.msg}\n{record.exc_text}"
            record.exc_text = None
        return True


def install_log_redaction() -> None:
    """Attach the redacting filter to every handler of the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
