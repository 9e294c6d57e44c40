"""Log lines as text or JSON (PUSHGATE_LOG_FORMAT), each carrying the context of the push it is
about (job id, app slug, API key name, request id), with secrets redacted from every line.

The context is one context variable: several jobs share a worker process (and its blob threads
copy the context), so a line's job is the context it was made in, not a process or thread."""

from __future__ import annotations

import logging
import re
import sys
import threading
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from worker.policies import LogFormat
from worker.redaction import RedactingFilter, redact
from worker.timestamps import format_time

CONTEXT_FIELDS = ("job_id", "app_slug", "key_name", "request_id")
_context: ContextVar[dict[str, str] | None] = ContextVar("pushgate_log_context", default=None)
_format = [LogFormat.TEXT]  # as configure_logging last set it
NO_JOB = "-"
_stamping = threading.Lock()
_stamped = [False]


def current_format() -> LogFormat:
    """The log format this process was configured with."""
    return _format[0]


def bind(**fields: str | None) -> None:
    """Add `fields` to the current context until it ends (a request, a task)."""
    _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v}})


def clear() -> None:
    """Forget the current context's fields."""
    _context.set({})


def install_job_log_context() -> None:
    """Give every log record a `job` attribute (the current job id, or "-"), the stamp of
    Celery's text lines; idempotent."""
    with _stamping:
        if _stamped[0]:
            return
        make_record = logging.getLogRecordFactory()

        def stamped(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            record.job = (_context.get() or {}).get("job_id", NO_JOB)
            return record

        logging.setLogRecordFactory(stamped)
        _stamped[0] = True


class ContextFilter(logging.Filter):
    """Puts the context fields on every record that does not carry them already."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the fields; never drops a record."""
        for name, value in (_context.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message, context and extra fields."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s %(process)d",
            rename_fields={"levelname": "level", "name": "logger"},
            # `job` is the text format's stamp (install_job_log_context); JSON lines carry job_id.
            reserved_attrs=[*RESERVED_ATTRS, "job"],
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """The standard fields plus an RFC 3339 UTC `time`."""
        super().add_fields(log_data, record, message_dict)
        log_data["time"] = format_time(record.created)

    def format(self, record: logging.LogRecord) -> str:
        """The JSON line, with secrets redacted from all of it."""
        return redact(str(super().format(record)))


_CONTROLS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """`text` with control characters written as escapes (`\\n`, `\\x1b`), so it stays one line."""
    return _CONTROLS.sub(lambda m: _NAMED.get(m.group(), ascii(m.group())[1:-1]), text)


class TextFormatter(logging.Formatter):
    """Wraps a text formatter: appends the context fields as `key=value`, redacts the line."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The inner formatter's line plus the context, control characters in the message and
        the context escaped (a caller's `%0A` in a path cannot forge a line)."""
        message = record.getMessage()
        escaped = escape_controls(message)
        if escaped != message:
            record = logging.makeLogRecord({**record.__dict__, "msg": escaped, "args": None})
        line = self.inner.format(record)
        pairs = [
            f"{name}={escape_controls(str(getattr(record, name)))}"
            for name in CONTEXT_FIELDS
            if hasattr(record, name)
        ]
        return redact(f"{line} [{' '.join(pairs)}]" if pairs else line)


def configure_logging(log_format: LogFormat, level: str | None = None) -> None:
    """Give every root handler (a stderr one when there is none) pushgate's formatter, the
    context filter and redaction; idempotent."""
    _format[0] = log_format
    root = logging.getLogger()
    if level:
        root.setLevel(level)
    # httpx logs every request at INFO: a line per registry request (with upload session
    # URLs) costs the worker more CPU than the request's own bookkeeping, and the request
    # metrics count them already. Its warnings still show.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    format_handlers(root, log_format)


def format_handlers(logger: logging.Logger, log_format: LogFormat) -> None:
    """Give `logger`'s own handlers pushgate's formatter, context filter and redaction."""
    for handler in logger.handlers:
        current = handler.formatter
        if log_format is LogFormat.JSON and not isinstance(current, JsonLineFormatter):
            handler.setFormatter(JsonLineFormatter())
        elif log_format is LogFormat.TEXT and not isinstance(current, TextFormatter):
            handler.setFormatter(TextFormatter(current))
        for kind in (ContextFilter, RedactingFilter):
            if not any(isinstance(f, kind) for f in handler.filters):
                handler.addFilter(kind())
