"""What the API tells operators: a request id on every request and log line, HTTP metrics,
a log line per request, and /metrics (no API key; keep it off the public ingress)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from worker.facade import (
    HTTP_DURATION,
    HTTP_REQUESTS,
    QUEUE,
    JobsCollector,
    JobStatus,
    JobStore,
    bind,
    clear,
    http_labels,
    scrape_registry,
)

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")
log = logging.getLogger("pushgate.http")


def request_id() -> str:
    """The current request's id: the caller's X-Request-ID when sane, else a new one."""
    return str(g.request_id)


def install(app: Flask, store: JobStore) -> None:
    """Add request ids, request metrics and logs, and the /metrics endpoint to `app`."""
    limits = store.caller_limits()

    def counts() -> tuple[dict[str, int], int]:
        queued, running = limits.active_counts()
        by_status = {str(JobStatus.QUEUED): queued, str(JobStatus.RUNNING): running}
        return by_status, store.queue_length(QUEUE)

    registry = scrape_registry(JobsCollector(counts))

    @app.before_request
    def _start() -> None:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if _REQUEST_ID_RE.match(given) else uuid.uuid4().hex
        g.started = time.perf_counter()
        clear()
        bind(request_id=g.request_id)

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        method, route = http_labels(
            request.method, request.url_rule.rule if request.url_rule is not None else None
        )
        status = str(response.status_code)
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        HTTP_REQUESTS.labels(method, route, status).inc()
        HTTP_DURATION.labels(method, route, status).observe(elapsed)
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            status,
            extra={"route": route, "status": response.status_code, "duration_seconds": elapsed},
        )
        return response

    @app.teardown_request
    def _forget(_: BaseException | None) -> None:
        clear()

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
