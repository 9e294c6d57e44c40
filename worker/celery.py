"""The Celery app (`celery -A worker worker` finds `app` here): explicit configuration, JSON
messages that carry only job ids. The only module besides `worker.tasks` that imports Celery."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from celery import Celery, signals
from kombu.entity import Queue
from kombu.serialization import dumps

from worker.logs import install_job_log_context
from worker.multiprocess import prepare_multiprocess_dir
from worker.redisconn import broker_config
from worker.settings import Settings

QUEUE = "pushgate"
PUSH_TASK = "pushgate.push"
# Webhook deliveries have their own queue, so a worker can be given to them alone and a slow
# receiver never delays a push (`celery -A worker worker -Q pushgate.webhooks`).
WEBHOOK_QUEUE = "pushgate.webhooks"
DELIVER_TASK = "pushgate.webhook.deliver"
# Plans are answered while a caller waits: their own queue keeps them from waiting behind pushes.
PLAN_QUEUE = "pushgate.plans"
PLAN_TASK = "pushgate.plan"
QUEUES = (QUEUE, WEBHOOK_QUEUE, PLAN_QUEUE)


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for pushgate, from our Settings."""
    install_job_log_context()  # before Celery formats its first line with %(job)s
    return {
        **broker_config(settings),  # redis://, rediss:// or sentinel://, as the job store
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 2,
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        "task_default_queue": QUEUE,
        # A worker started without -Q consumes every queue.
        "task_queues": [Queue(name) for name in QUEUES],  # type: ignore[no-untyped-call]
        "task_routes": {
            DELIVER_TASK: {"queue": WEBHOOK_QUEUE},
            PLAN_TASK: {"queue": PLAN_QUEUE},
        },
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        # Crash safety: a task is acknowledged only after it ran, and requeued when the
        # worker process dies; each thread takes one job at a time.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # Many pushes per process: a push waits on the network, not the CPU, so threads share
        # one process's connection pools, tokens and blob stream slots (README: "Workers").
        # `--pool` and `--concurrency` on the command line still win.
        "worker_pool": "threads",
        "worker_concurrency": settings.worker_concurrency,
        "worker_log_format": "[%(asctime)s: %(levelname)s/%(processName)s] [job %(job)s] "
        "%(message)s",
        "worker_redirect_stdouts": False,
        "task_send_sent_event": False,
        "worker_send_task_events": False,
        "include": ["worker.tasks"],
    }


_settings_lock = threading.Lock()
_settings: list[Settings] = []


def process_settings() -> Settings:
    """PUSHGATE_* as this process read it, once: Celery's configuration and the worker's
    context (worker/context.py) share it; a forked pool child inherits it."""
    with _settings_lock:
        if not _settings:
            _settings.append(Settings.from_env())
        return _settings[0]


class _EnvConfig(Mapping[str, Any]):
    """Celery config read from the environment when Celery first needs it, not at import."""

    def __init__(self) -> None:
        self._data: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._data is None:
            # The files are checked by the worker's context as it starts (worker.startup).
            self._data = celery_config(process_settings())
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def create_celery(settings: Settings | None = None) -> Celery:
    """A Celery app configured from `settings`, or lazily from the environment when None."""
    app = Celery("pushgate", set_as_current=False)
    if settings is None:
        app.config_from_object(_EnvConfig())
    else:
        app.conf.update(celery_config(settings))
    return app


def enqueue_push(app: Celery, job_id: str) -> None:
    """Send the push task for `job_id`: the message carries the id and nothing else."""
    app.send_task(PUSH_TASK, args=[job_id], queue=QUEUE)


def push_message(app: Celery, job_id: str) -> tuple[str, str]:
    """The Redis list and the message that sending the push task for `job_id` puts there,
    built as Celery and kombu's Redis transport build them, so the job store can write a job
    and its message in one transaction (no separate publish, no half-written job)."""
    task_id = str(uuid.uuid4())
    # Celery's own task message (protocol 2), with no result to reply to (none is kept).
    headers, properties, body, _ = app.amqp.create_task_message(task_id, PUSH_TASK, [job_id], {})
    content_type, encoding, data = dumps(body, serializer="json")  # type: ignore[no-untyped-call]
    message = {
        "body": base64.b64encode(data.encode() if isinstance(data, str) else data).decode(),
        "content-encoding": encoding,
        "content-type": content_type,
        "headers": headers,
        "properties": {
            **properties,
            "delivery_mode": 2,  # persistent, as kombu marks every message
            "delivery_info": {"exchange": "", "routing_key": QUEUE},
            "priority": 0,  # kombu's Redis transport keeps priority 0 in the queue's own list
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return QUEUE, json.dumps(message)


def enqueue_plan(app: Celery, plan_id: str, wait: float) -> None:
    """Send a plan's task: the message carries the plan id, and expires with the caller's wait."""
    app.send_task(PLAN_TASK, args=[plan_id], queue=PLAN_QUEUE, expires=wait)


def enqueue_delivery(app: Celery, delivery_id: str) -> None:
    """Send a webhook delivery's task: the message carries the delivery id and nothing else."""
    app.send_task(DELIVER_TASK, args=[delivery_id], queue=WEBHOOK_QUEUE)


# Configured lazily from PUSHGATE_* when Celery first reads its config, never at import.
app = create_celery()


@signals.import_modules.connect  # type: ignore[untyped-decorator]
def _metrics_folder(**_: Any) -> None:
    """Before a worker imports the task modules (and prometheus_client with them): the
    multiprocess folder its prefork children and its /metrics server share."""
    prepare_multiprocess_dir()
