"""Keep credentials out of logs and error texts: one process-wide list of secret values."""

from __future__ import annotations

import base64
import logging
import threading

REDACTED = "[REDACTED]"
_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str, username: str | None = None) -> None:
    """Add `value` (and its Basic-auth encodings with `username`) to what is redacted."""
    if len(value) < 4:
        return
    forms = {value}
    if username is not None:
        forms.add(base64.b64encode(f"{username}:{value}".encode()).decode())
    with _lock:
        _secrets.update(forms)


def redact(text: str) -> str:
    """`text` with every registered secret replaced by [REDACTED]."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets from the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with secrets redacted; never drops a record."""
        if not _secrets:
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
