"""Which job a log line belongs to: a context variable stamped on every log record.

Several jobs share a worker process (and its blob threads copy the context), so the job id is
carried by the context the job runs in, not by a process or thread name.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

NO_JOB = "-"
current_job: ContextVar[str] = ContextVar("current_job", default=NO_JOB)
_installed = False
_lock = threading.Lock()


@contextmanager
def job_log_context(job_id: str) -> Iterator[None]:
    """Stamp log records made in this context (and contexts copied from it) with `job_id`."""
    token = current_job.set(job_id)
    try:
        yield
    finally:
        current_job.reset(token)


def install_job_log_context() -> None:
    """Give every log record a `job` attribute (the current job id, or "-"); idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        make_record = logging.getLogRecordFactory()

        def stamped(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            record.job = current_job.get()
            return record

        logging.setLogRecordFactory(stamped)
        _installed = True
