"""Thin Celery tasks: they take a job id and hand it to the runner."""

from __future__ import annotations

from typing import Any

from celery.signals import after_setup_logger, worker_process_init, worker_ready

from worker import celery
from worker.celery_app import PUSH_TASK, enqueue_push
from worker.jobs import JobStore
from worker.reconciler import Reconciler
from worker.redaction import install_log_redaction
from worker.runtime import reset, runner
from worker.settings import Settings


@celery.task(name=PUSH_TASK, acks_late=True, reject_on_worker_lost=True)
def push(job_id: str) -> None:
    """Run push job `job_id` to an end state."""
    runner().run(job_id)


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    reset()


@after_setup_logger.connect
def _redact_logs(**_: Any) -> None:
    install_log_redaction()


@worker_ready.connect
def _start_reconciler(sender: Any = None, **_: Any) -> None:
    settings = Settings.from_env()
    store = JobStore.from_url(settings.redis_url, settings.job_retention)
    app = sender.app if sender is not None else celery
    Reconciler(store, lambda job_id: enqueue_push(app, job_id), settings.heartbeat_timeout,
               settings.reconcile_interval).start()
