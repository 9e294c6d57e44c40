"""Thin Celery tasks and the worker's signal wiring: each takes an id or a signal and calls into
the process's WorkerContext (worker/context.py), built once per process (again after a fork:
connections must not be shared)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

from billiard.process import active_children
from celery.signals import (
    after_setup_logger,
    task_postrun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutting_down,
)

from worker.celery import (
    DELIVER_TASK,
    PLAN_TASK,
    PUSH_TASK,
    app,
    enqueue_delivery,
    enqueue_push,
    process_settings,
)
from worker.context import TaskQueues, WorkerContext
from worker.errors import ConfigurationError
from worker.jobs.shutdown import SHUTDOWN
from worker.logs import clear, configure_logging
from worker.prometheus_metrics import mark_process_dead

log = logging.getLogger(__name__)
QUEUES = TaskQueues(
    push=lambda job_id: enqueue_push(app, job_id),
    deliver=lambda delivery_id: enqueue_delivery(app, delivery_id),
)

_lock = threading.Lock()
_context: WorkerContext | None = None
_pool_sigterm: Any = None  # billiard's own SIGTERM handler in a pool child, once we replaced it


def context() -> WorkerContext:
    """This process's context, built on first use."""
    global _context
    with _lock:
        if _context is None:
            _context = WorkerContext.build(process_settings(), QUEUES)
        return _context


@app.task(name=PUSH_TASK, acks_late=True, reject_on_worker_lost=True)
def push(job_id: str) -> None:
    """Run push job `job_id` to an end state."""
    if threading.current_thread() is threading.main_thread():  # a prefork child, not a thread
        _take_sigterm()
    context().runner.run(job_id)


@app.task(name=PLAN_TASK, acks_late=False)
def plan(plan_id: str) -> None:
    """Plan the push offered as `plan_id` (reading only) and answer the API waiting for it."""
    context().plan(plan_id)


@app.task(name=DELIVER_TASK, acks_late=True, reject_on_worker_lost=True)
def deliver(delivery_id: str) -> None:
    """Make one attempt at webhook delivery `delivery_id` (retries are scheduled, not looped)."""
    context().dispatcher.deliver(delivery_id)


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    global _context
    with _lock:
        _context = None
    SHUTDOWN.reset()  # the context is built by the child's first task


def _take_sigterm() -> None:
    # billiard installs its handler after worker_process_init, so we take over at the first task.
    global _pool_sigterm
    if _pool_sigterm is None:
        _pool_sigterm = signal.getsignal(signal.SIGTERM) or signal.SIG_DFL
        signal.signal(signal.SIGTERM, _child_sigterm)


def _child_sigterm(signum: int, frame: FrameType | None) -> None:
    """A pool child told to stop: an idle one exits as billiard would; a busy one hands its
    job back after the grace period (at once on a second SIGTERM)."""
    if SHUTDOWN.busy and _context is not None:
        SHUTDOWN.request(_context.settings.shutdown_grace)
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
    # Threads pool: the jobs run in this process, so its own request hands them back.
    if SHUTDOWN.busy:
        SHUTDOWN.request(context().settings.shutdown_grace)
    for child in active_children():
        try:
            os.kill(child.pid, signal.SIGTERM)
        except (ProcessLookupError, TypeError):
            continue


@worker_process_shutdown.connect
def _process_exits(pid: int | None = None, **_: Any) -> None:
    mark_process_dead(pid or os.getpid())


@after_setup_logger.connect
def _log_format(**_: Any) -> None:
    try:
        configure_logging(context().settings.log_format)
    except ConfigurationError:
        return  # worker_init reports it and stops the start


@task_postrun.connect
def _forget_job(**_: Any) -> None:
    clear()


@worker_init.connect
def _start(**_: Any) -> None:
    """The start-up check (a bad file stops the worker, naming it), then the liveness file."""
    try:
        started = context()
    except ConfigurationError as exc:
        log.critical("cannot start: %s", exc)
        raise SystemExit(f"pushgate worker cannot start: {exc}") from None
    started.start_liveness()


@worker_ready.connect
def _start_background(**_: Any) -> None:
    context().start_background()
