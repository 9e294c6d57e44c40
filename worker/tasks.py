"""Thin Celery tasks: they take a job id and hand it to the runner. Also the worker's signal
wiring: the reconciler, the liveness file, and SIGTERM's graceful hand-back."""

from __future__ import annotations

import logging
import os
import signal
from types import FrameType
from typing import Any

from billiard.process import active_children
from celery.signals import (
    after_setup_logger,
    worker_init,
    worker_process_init,
    worker_ready,
    worker_shutting_down,
)

from worker.celery import PUSH_TASK, app, enqueue_push
from worker.jobs.reconciler import Reconciler
from worker.jobs.runner import forget_process_runner, process_runner
from worker.jobs.shutdown import SHUTDOWN
from worker.jobs.store import JobStore
from worker.liveness import LivenessFile
from worker.redaction import install_log_redaction
from worker.settings import Settings

log = logging.getLogger(__name__)
_grace = Settings.shutdown_grace
_pool_sigterm: Any = None  # billiard's own SIGTERM handler in a pool child, once we replaced it


@app.task(name=PUSH_TASK, acks_late=True, reject_on_worker_lost=True)
def push(job_id: str) -> None:
    """Run push job `job_id` to an end state."""
    _take_sigterm()
    process_runner(lambda handed_back: enqueue_push(app, handed_back)).run(job_id)


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    global _grace
    forget_process_runner()
    SHUTDOWN.reset()
    _grace = Settings.from_env().shutdown_grace


def _take_sigterm() -> None:
    # billiard installs its handler after worker_process_init, so we take over at the first task.
    global _pool_sigterm
    if _pool_sigterm is None:
        _pool_sigterm = signal.getsignal(signal.SIGTERM) or signal.SIG_DFL
        signal.signal(signal.SIGTERM, _child_sigterm)


def _child_sigterm(signum: int, frame: FrameType | None) -> None:
    """A pool child told to stop: an idle one exits as billiard would; a busy one hands its
    job back after the grace period (at once on a second SIGTERM)."""
    if SHUTDOWN.busy:
        SHUTDOWN.request(_grace)
        return
    signal.signal(signal.SIGTERM, _pool_sigterm)
    if callable(_pool_sigterm):
        _pool_sigterm(signum, frame)
    else:
        os.kill(os.getpid(), signal.SIGTERM)


@worker_shutting_down.connect
def _forward_sigterm(how: str = "", **_: Any) -> None:
    # Kubernetes signals only PID 1, the main process: tell the pool children too.
    if how != "Warm":
        return
    for child in active_children():
        try:
            os.kill(child.pid, signal.SIGTERM)
        except (ProcessLookupError, TypeError):
            continue


@after_setup_logger.connect
def _redact_logs(**_: Any) -> None:
    install_log_redaction()


@worker_init.connect
def _start_liveness(**_: Any) -> None:
    path = Settings.from_env().liveness_file
    if path is not None:
        LivenessFile(path).start()


@worker_ready.connect
def _start_reconciler(sender: Any = None, **_: Any) -> None:
    settings = Settings.from_env()
    store = JobStore.from_settings(settings)
    celery_app = sender.app if sender is not None else app
    Reconciler(
        store,
        lambda job_id: enqueue_push(celery_app, job_id),
        settings.heartbeat_timeout,
        settings.reconcile_interval,
    ).start()
