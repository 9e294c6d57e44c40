"""gunicorn settings for the API (`gunicorn --config=python:worker.gunicorn_conf`): logs in
PUSHGATE_LOG_FORMAT, and Prometheus multiprocess mode (a folder shared by the workers,
emptied at start, each dead worker marked). Installed with the package, so the API runs with
them from any folder. It lives in `worker`, not `api`: importing `api` registers metrics, and
that must wait until on_starting has settled the multiprocess folder."""

from __future__ import annotations

from typing import Any

from worker.logs import configure_logging, format_handlers
from worker.multiprocess import prepare_multiprocess_dir
from worker.policies import LogFormat
from worker.settings import Settings


def _json_logconfig() -> dict[str, Any]:
    """gunicorn's own loggers as JSON from their first line, when PUSHGATE_LOG_FORMAT=json."""
    if Settings.from_env().log_format is not LogFormat.JSON:
        return {}
    handler = {"class": "logging.StreamHandler", "formatter": "json"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "worker.logs.JsonLineFormatter"}},
        "handlers": {
            "console": {**handler, "stream": "ext://sys.stderr"},  # the root logger's
            "error": {**handler, "stream": "ext://sys.stderr"},
            "access": {**handler, "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "gunicorn.error": {"handlers": ["error"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


logconfig_dict = _json_logconfig()


def _configure(server: Any) -> None:
    settings = Settings.from_env()
    configure_logging(settings.log_format, settings.log_level)
    for logger in (server.log.error_log, server.log.access_log):
        format_handlers(logger, settings.log_format)


def on_starting(server: Any) -> None:
    """In the master, before any worker: the metrics folder and the log format."""
    prepare_multiprocess_dir()
    _configure(server)


def post_fork(server: Any, worker: Any) -> None:
    """In each worker: the log format (gunicorn set up its loggers again)."""
    _configure(server)


def child_exit(server: Any, worker: Any) -> None:
    """In the master, when a worker exited: prometheus_client's multiprocess cleanup."""
    from worker.prometheus_metrics import mark_process_dead  # after on_starting set the folder

    mark_process_dead(worker.pid)
