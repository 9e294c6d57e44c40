"""Thin Celery tasks: they take a job id and hand it to the runner."""

from __future__ import annotations

from typing import Any

from celery.signals import after_setup_logger, worker_process_init, worker_ready

from worker.celery import PUSH_TASK, app, enqueue_push
from worker.jobs.reconciler import Reconciler
from worker.jobs.runner import forget_process_runner, process_runner
from worker.jobs.store import JobStore
from worker.redaction import install_log_redaction
from worker.settings import Settings


@app.task(name=PUSH_TASK, acks_late=True, reject_on_worker_lost=True)
def push(job_id: str) -> None:
    """Run push job `job_id` to an end state."""
    process_runner().run(job_id)


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    forget_process_runner()


@after_setup_logger.connect
def _redact_logs(**_: Any) -> None:
    install_log_redaction()


@worker_ready.connect
def _start_reconciler(sender: Any = None, **_: Any) -> None:
    settings = Settings.from_env()
    store = JobStore.from_url(settings.redis_url, settings.job_retention)
    celery_app = sender.app if sender is not None else app
    Reconciler(
        store,
        lambda job_id: enqueue_push(celery_app, job_id),
        settings.heartbeat_timeout,
        settings.reconcile_interval,
    ).start()
