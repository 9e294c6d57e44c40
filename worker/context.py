"""The worker's context: everything one worker process runs with, built once per process from
its one `Settings.from_env()` (worker.celery.process_settings). Celery's signals and tasks
(worker/tasks.py) only call into it.

    Settings.from_env() ─► check_startup() ─► Configuration (targets, apps, webhooks, grants)
            │                                        │
            ▼                                        ▼
    WorkerContext: store ─► runner (engine built at its first job from the targets' logins,
                   │                  metrics observer) ─► events ─► dispatcher
                   └► background: metrics server, reconciler, webhook retries, liveness file
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from worker.engines import build_engine
from worker.jobs.daemon_plan import plan_daemon_push
from worker.jobs.model import Job
from worker.jobs.planning import Learned, plan_push
from worker.jobs.plans import answer_plan
from worker.jobs.reconciler import Reconciler
from worker.jobs.runner import JobRunner
from worker.jobs.store import JobStore
from worker.liveness import LivenessFile
from worker.logs import configure_logging
from worker.policies import DaemonPushMode
from worker.prometheus_metrics import RegistryMetrics, start_metrics_server
from worker.registry.blobs import StopCheck
from worker.settings import Settings
from worker.startup import Configuration, check_startup
from worker.webhooks.dispatch import DeliveryScheduler, Dispatcher, lease_for

SCHEDULER_INTERVAL = 1.0  # how often a worker looks for webhook retries that came due


@dataclass(frozen=True)
class TaskQueues:
    """How the context sends work back to the queues (Celery's side gives these)."""

    push: Callable[[str], None]  # a push job's id
    deliver: Callable[[str], None]  # a webhook delivery's id


class WorkerContext:
    """One worker process's settings, files, store, runner and webhook dispatcher."""

    def __init__(
        self, settings: Settings, configuration: Configuration, queues: TaskQueues
    ) -> None:
        self.settings, self.configuration, self.queues = settings, configuration, queues
        self.store = JobStore.from_settings(settings)
        self.dispatcher = Dispatcher(
            settings,
            self.store.deliveries(),
            configuration.subscriptions,
            queues.deliver,
        )
        engine = partial(build_engine, settings, configuration.targets, RegistryMetrics())
        self.runner = JobRunner(
            settings,
            self.store,
            engine_factory=engine,
            events=self.dispatcher.emit,
            requeue=queues.push,
        )

    @classmethod
    def build(cls, settings: Settings, queues: TaskQueues) -> WorkerContext:
        """The context of `settings` (the process's one Settings.from_env()): every file
        checked (a bad one raises ConfigurationError naming it), logging configured."""
        configuration = check_startup(settings)
        configure_logging(settings.log_format, settings.log_level)
        return cls(settings, configuration, queues)

    def plan(self, plan_id: str) -> None:
        """Plan the push offered as `plan_id` with this process's engine, blob ledger and
        ledger scopes (reading only), and answer the API waiting for it."""
        runner = self.runner

        def plan(job: Job, should_stop: StopCheck, learned: Learned) -> dict[str, Any]:
            scope = partial(runner.pusher.ledger_scope, job)
            verify = runner.pusher.signatures.policy(job)
            if job.from_daemon:
                unsigned = runner.pusher.signatures.refuse_daemon(job, verify) if verify else None
                daemon, cache = runner.daemon, runner.layer_cache
                sdk = self.settings.daemon_push is DaemonPushMode.SDK
                engine = runner.engine()
                return plan_daemon_push(daemon, engine, cache, job, should_stop, unsigned, sdk)
            return plan_push(
                runner.engine(), runner.ledger.holders, scope, job, should_stop, learned, verify
            )

        answer_plan(self.store.plans(), plan_id, plan)

    def start_background(self) -> None:
        """Start the process's background threads: the /metrics server, the reconciler of
        lost jobs, the webhook retry scheduler and the liveness file."""
        settings = self.settings
        if settings.metrics_port:
            start_metrics_server(settings.metrics_port)
        Reconciler(
            self.store, self.queues.push, settings.heartbeat_timeout, settings.reconcile_interval
        ).start()
        DeliveryScheduler(
            self.store.deliveries(),
            self.queues.deliver,
            lease_for(settings.webhook_timeout),
            SCHEDULER_INTERVAL,
        ).start()

    def start_liveness(self) -> None:
        """Touch the liveness file (when configured) from now on."""
        if self.settings.liveness_file is not None:
            LivenessFile(self.settings.liveness_file).start()

    def close(self) -> None:
        """Close the runner's registry connections and the store's Redis pool."""
        self.runner.close()
