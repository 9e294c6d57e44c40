"""Thin Celery tasks: they take a job id and hand it to the runner."""

from __future__ import annotations

import os
from typing import Any

from celery.signals import (
    after_setup_logger,
    task_postrun,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
)
from prometheus_client import start_http_server

from worker.celery import PUSH_TASK, app, enqueue_push
from worker.jobs.reconciler import Reconciler
from worker.jobs.runner import forget_process_runner, process_runner
from worker.jobs.store import JobStore
from worker.logs import clear, configure_logging
from worker.metrics import mark_process_dead, scrape_registry
from worker.settings import Settings


@app.task(name=PUSH_TASK, acks_late=True, reject_on_worker_lost=True)
def push(job_id: str) -> None:
    """Run push job `job_id` to an end state."""
    process_runner().run(job_id)


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    forget_process_runner()


@worker_process_shutdown.connect
def _process_exits(pid: int | None = None, **_: Any) -> None:
    mark_process_dead(pid or os.getpid())


@after_setup_logger.connect
def _log_format(**_: Any) -> None:
    configure_logging(Settings.from_env().log_format)


@task_postrun.connect
def _forget_job(**_: Any) -> None:
    clear()


@worker_ready.connect
def _start_reconciler(sender: Any = None, **_: Any) -> None:
    settings = Settings.from_env()
    if settings.metrics_port:
        start_http_server(settings.metrics_port, registry=scrape_registry())
    store = JobStore.from_url(settings.redis_url, settings.job_retention)
    celery_app = sender.app if sender is not None else app
    Reconciler(
        store,
        lambda job_id: enqueue_push(celery_app, job_id),
        settings.heartbeat_timeout,
        settings.reconcile_interval,
    ).start()
