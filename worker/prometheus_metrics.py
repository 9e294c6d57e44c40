"""Prometheus metrics of pushgate, in prometheus_client's multiprocess mode when
PROMETHEUS_MULTIPROC_DIR is set (gunicorn workers, Celery's prefork children).

Labels are small closed sets: never a job id, a digest or a repository."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from worker.multiprocess import MULTIPROC_ENV
from worker.registry.manifests import Descriptor
from worker.registry.progress import Progress

DURATION_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

PUSHES = Counter(
    "pushgate_pushes_total",
    "Push jobs that ended, by status and error type (empty when it succeeded).",
    ["status", "error_type"],
)
PUSH_DURATION = Histogram(
    "pushgate_push_duration_seconds",
    "Time from a job's start to its end, for jobs that ran.",
    buckets=DURATION_BUCKETS,
)
PHASE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1200, 3600)
PUSH_PHASES = Histogram(
    "pushgate_push_phase_seconds",
    "Seconds of each phase of a job (worker/registry/phases.py), from its first start to its "
    "last end; phases overlap.",
    ["phase"],
    buckets=PHASE_BUCKETS,
)
PUSH_BYTES = Counter(
    "pushgate_push_bytes_total",
    "Bytes of blobs handled, by outcome: uploaded, skipped (already there), mounted.",
    ["outcome"],
)
BLOBS = Counter(
    "pushgate_blobs_total",
    "Blobs handled, by outcome: uploaded, skipped, mounted.",
    ["outcome"],
)
REGISTRY_REQUESTS = Counter(
    "pushgate_registry_requests_total",
    "HTTP requests to registries, by registry host, method and status code (`error`: none).",
    ["registry", "method", "code"],
)
REGISTRY_RETRIES = Counter(
    "pushgate_registry_retries_total",
    "Registry requests retried, by registry host and reason.",
    ["registry", "reason"],
)
WEBHOOK_DELIVERIES = Counter(
    "pushgate_webhook_deliveries_total",
    "Webhook delivery attempts, by result.",
    ["result"],
)
HTTP_REQUESTS = Counter(
    "pushgate_http_requests_total",
    "API requests, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "pushgate_http_request_duration_seconds",
    "API request latency, by method, route template and status.",
    ["method", "route", "status"],
    buckets=HTTP_BUCKETS,
)
AUTH_FAILURES = Counter(
    "pushgate_authentication_failures_total",
    "API requests refused for want of a valid API key (401).",
)
LONG_POLLS_REFUSED = Counter(
    "pushgate_long_polls_refused_total",
    "Long-polls refused (429) because their key already held PUSHGATE_MAX_WAITS_PER_KEY.",
)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


def http_labels(method: str, route: str | None) -> tuple[str, str]:
    """The method and route labels of a request, from closed sets: a method or a path the API
    does not know is `other`, so callers cannot add series."""
    return (method if method in HTTP_METHODS else OTHER, route if route is not None else OTHER)


class RegistryMetrics:
    """The copy engine's RegistryObserver, counting into the registry metrics."""

    def request(self, registry: str, method: str, code: str) -> None:
        """Count one registry request."""
        REGISTRY_REQUESTS.labels(registry, method, code).inc()

    def retry(self, registry: str, reason: str) -> None:
        """Count one retry."""
        REGISTRY_RETRIES.labels(registry, reason).inc()


def count_blob(outcome: str, size: int) -> None:
    """Count one blob handled and its bytes (`outcome`: uploaded, skipped or mounted)."""
    BLOBS.labels(outcome).inc()
    PUSH_BYTES.labels(outcome).inc(size)


def count_delivery(result: str) -> None:
    """Count one webhook delivery attempt by its result: delivered, retrying (another attempt
    is scheduled), failed (attempts exhausted), gone (410), disabled (not sent)."""
    WEBHOOK_DELIVERIES.labels(result).inc()


class _Phase(Protocol):
    """Where part of a job's time went (the job model's JobPhase)."""

    @property
    def name(self) -> str: ...
    @property
    def seconds(self) -> float: ...


def count_finished(
    status: str,
    error_type: str | None,
    started_at: dt.datetime | None = None,
    finished_at: dt.datetime | None = None,
    phases: Iterable[_Phase] = (),
) -> None:
    """Count a job that reached an end state (and its duration and phases, when it ran)."""
    PUSHES.labels(str(status), error_type or "").inc()
    for phase in phases:
        PUSH_PHASES.labels(phase.name).observe(phase.seconds)
    if started_at is not None and finished_at is not None:
        PUSH_DURATION.observe(max(0.0, (finished_at - started_at).total_seconds()))


class MeteredProgress(Progress):
    """A copy's progress that also counts each blob and its bytes into the metrics."""

    def blob_done(self, blob: Descriptor, counted: int) -> None:
        """Count an uploaded blob."""
        super().blob_done(blob, counted)
        count_blob("uploaded", blob.size)

    def blob_skipped(self, blob: Descriptor, counted: int, mounted: bool = False) -> None:
        """Count a blob the target had, or mounted."""
        super().blob_skipped(blob, counted, mounted)
        count_blob("mounted" if mounted else "skipped", blob.size)


class JobsCollector(Collector):
    """pushgate_jobs{status} and pushgate_queue_length, read from Redis at scrape time, so
    every process reports the same truth and no gauge lives in a dead process's file."""

    def __init__(self, counts: Callable[[], tuple[Mapping[str, int], int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The two gauges; nothing when Redis cannot be read (the scrape still succeeds)."""
        try:
            by_status, queue_length = self._counts()
        except Exception:  # a scrape must not fail because Redis is down
            return
        jobs = GaugeMetricFamily("pushgate_jobs", "Jobs queued or running.", labels=["status"])
        for status in ("queued", "running"):
            jobs.add_metric([status], by_status.get(status, 0))
        yield jobs
        yield GaugeMetricFamily(
            "pushgate_queue_length", "Messages waiting in the push queue.", value=queue_length
        )


def scrape_registry(*extra: Collector) -> CollectorRegistry:
    """A registry of every process's metrics (multiprocess mode) or this process's, plus
    `extra` collectors."""
    registry = CollectorRegistry(auto_describe=True)
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for metric in (PUSHES, PUSH_DURATION, PUSH_PHASES, PUSH_BYTES, BLOBS, REGISTRY_REQUESTS):
            registry.register(metric)
        for metric in (REGISTRY_RETRIES, WEBHOOK_DELIVERIES, HTTP_REQUESTS, HTTP_DURATION):
            registry.register(metric)
        for metric in (AUTH_FAILURES, LONG_POLLS_REFUSED):
            registry.register(metric)
    for collector in extra:
        registry.register(collector)
    return registry


def mark_process_dead(pid: int) -> None:
    """The multiprocess cleanup hook for a process that exited (gunicorn and Celery children)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def start_metrics_server(port: int) -> None:
    """Serve /metrics on `port` from a daemon thread: every process's samples (multiprocess)."""
    start_http_server(port, registry=scrape_registry())
