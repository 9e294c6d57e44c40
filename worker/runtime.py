"""The per-process objects a worker needs, built lazily after fork from the environment."""

from __future__ import annotations

import logging
import threading

from worker.engine import CopyEngine
from worker.jobs import JobStore
from worker.redaction import install_log_redaction
from worker.runner import JobRunner
from worker.settings import Settings

_lock = threading.Lock()
_runner: JobRunner | None = None


def build_runner(settings: Settings) -> JobRunner:
    """A JobRunner with its own Redis connection pool and registry clients."""
    store = JobStore.from_url(settings.redis_url, settings.job_retention)
    return JobRunner(settings, store, CopyEngine.from_settings(settings))


def runner() -> JobRunner:
    """This process's JobRunner, created on first use."""
    global _runner
    with _lock:
        if _runner is None:
            settings = Settings.from_env()
            logging.getLogger().setLevel(settings.log_level)
            _runner = build_runner(settings)
            install_log_redaction()
        return _runner


def reset() -> None:
    """Forget this process's runner (after fork: connections must not be shared)."""
    global _runner
    with _lock:
        _runner = None
