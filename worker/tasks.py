"""Thin Celery tasks: they take a job id and hand it to the runner."""

from __future__ import annotations

from typing import Any

from celery.signals import after_setup_logger, worker_process_init

from worker import celery
from worker.celery_app import PUSH_TASK
from worker.redaction import install_log_redaction
from worker.runtime import reset, runner


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
