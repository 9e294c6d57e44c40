"""Thin Celery tasks: they take a job or delivery id and hand it to the runner or dispatcher.
Also the worker's signal wiring: the reconciler, the liveness file, SIGTERM's hand-back."""

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
from prometheus_client import start_http_server

from worker.celery import DELIVER_TASK, PLAN_TASK, PUSH_TASK, app, enqueue_delivery, enqueue_push
from worker.errors import ConfigurationError
from worker.jobs.model import Job
from worker.jobs.planning import runner_plan
from worker.jobs.plans import PlanExchange, answer_plan
from worker.jobs.reconciler import Reconciler
from worker.jobs.runner import forget_process_runner, process_runner
from worker.jobs.shutdown import SHUTDOWN
from worker.jobs.store import JobStore
from worker.liveness import LivenessFile
from worker.logs import clear, configure_logging
from worker.metrics import mark_process_dead, scrape_registry
from worker.settings import Settings
from worker.webhooks.dispatch import DeliveryScheduler, Dispatcher, lease_for
from worker.webhooks.records import DeliveryRecords
from worker.webhooks.subscriptions import load_subscriptions

log = logging.getLogger(__name__)
SCHEDULER_INTERVAL = 1.0  # how often a worker looks for webhook retries that came due

_lock = threading.Lock()
_dispatcher: Dispatcher | None = None


def process_dispatcher() -> Dispatcher:
    """This process's webhook dispatcher, on the job store's Redis, created on first use."""
    global _dispatcher
    with _lock:
        if _dispatcher is None:
            settings = Settings.from_env()
            store = JobStore.from_settings(settings)
            _dispatcher = Dispatcher(
                settings,
                DeliveryRecords(store.connection, settings.job_retention),
                load_subscriptions(settings.webhooks_file),
                lambda delivery_id: enqueue_delivery(app, delivery_id),
            )
        return _dispatcher


def _emit(event: str, job: Job) -> None:
    process_dispatcher().emit(event, job)


_grace = Settings.shutdown_grace
_pool_sigterm: Any = None  # billiard's own SIGTERM handler in a pool child, once we replaced it


@app.task(name=PUSH_TASK, acks_late=True, reject_on_worker_lost=True)
def push(job_id: str) -> None:
    """Run push job `job_id` to an end state."""
    if threading.current_thread() is threading.main_thread():  # a prefork child, not a thread
        _take_sigterm()
    process_runner(_emit, lambda handed_back: enqueue_push(app, handed_back)).run(job_id)


@app.task(name=PLAN_TASK, acks_late=False)
def plan(plan_id: str) -> None:
    """Plan the push offered as `plan_id` (reading only) and answer the API waiting for it."""
    runner = process_runner(_emit, lambda handed_back: enqueue_push(app, handed_back))
    answer_plan(PlanExchange(runner.store.connection), plan_id, runner_plan(runner))


@app.task(name=DELIVER_TASK, acks_late=True, reject_on_worker_lost=True)
def deliver(delivery_id: str) -> None:
    """Make one attempt at webhook delivery `delivery_id` (retries are scheduled, not looped)."""
    process_dispatcher().deliver(delivery_id)


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    global _dispatcher, _grace
    forget_process_runner()
    with _lock:
        _dispatcher = None
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
    # Threads pool: the jobs run in this process, so its own request hands them back.
    if SHUTDOWN.busy:
        SHUTDOWN.request(Settings.from_env().shutdown_grace)
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
    configure_logging(Settings.from_env().log_format)


@task_postrun.connect
def _forget_job(**_: Any) -> None:
    clear()


@worker_init.connect
def _start_liveness(**_: Any) -> None:
    path = Settings.from_env().liveness_file
    if path is not None:
        LivenessFile(path).start()


@worker_init.connect
def _check_webhooks_file(**_: Any) -> None:
    try:
        load_subscriptions(Settings.from_env().webhooks_file)
    except ConfigurationError as exc:
        log.critical("cannot start: %s", exc)
        raise SystemExit(f"pushgate worker cannot start: {exc}") from None


@worker_ready.connect
def _start_background(sender: Any = None, **_: Any) -> None:
    settings = Settings.from_env()
    if settings.metrics_port:
        start_http_server(settings.metrics_port, registry=scrape_registry())
    store = JobStore.from_settings(settings)
    celery_app = sender.app if sender is not None else app
    Reconciler(
        store,
        lambda job_id: enqueue_push(celery_app, job_id),
        settings.heartbeat_timeout,
        settings.reconcile_interval,
    ).start()
    DeliveryScheduler(
        DeliveryRecords(store.connection, settings.job_retention),
        lambda delivery_id: enqueue_delivery(celery_app, delivery_id),
        lease_for(settings.webhook_timeout),
        SCHEDULER_INTERVAL,
    ).start()
