"""pushgate's HTTP API: `gunicorn 'api:create_app()'`."""

from __future__ import annotations

import logging
import threading
from functools import partial
from typing import Any

from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from api import request_audit, request_telemetry
from api.chatops import SECURITY_SCHEMES, chatops
from api.docs import docs
from api.keys import KeyRing
from api.parameters import JobIdConverter
from api.plans import plans
from api.problems import ApiProblem, from_domain, from_http_exception, problem_response
from api.resources import audit_trail, health, pushes
from api.spec import OPENAPI_EXTENSION, DocumentedApi
from api.state import EXTENSION, ApiState
from api.ui import ui
from worker.errors import PushgateError
from worker.facade import (
    Dispatcher,
    JobStore,
    check_startup,
    create_celery,
    enqueue_delivery,
    enqueue_plan,
    enqueue_push,
    install_log_redaction,
    push_message,
)
from worker.settings import Settings

MAX_BODY_BYTES = 64 * 1024
CHAT_REPLAY_WINDOW = 600  # longer than a signed chat request stays fresh (5 min either way)
DESCRIPTION = (
    "Push container images into the vendor registry (or the operator's named targets) as jobs."
    "\n\nPolicies: an API key may use its `app_slugs` (and its `targets`, when listed). With "
    "an apps file (PUSHGATE_APPS_FILE), each app may also read only the sources matching its "
    "`sources` patterns (`host[:port]/repository`; `*` within one path segment, `**` across "
    "segments), push only the daemon images matching its `daemon_images`, and write only to "
    "its `targets`; a request naming no targets goes to the app's `default_targets`. Anything "
    "else is a 403 problem whose `rule` and `file` name the refusing rule, and nothing is read."
)
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app; settings default to the PUSHGATE_* environment."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        API_TITLE="pushgate",
        API_VERSION="1.0.0",
        OPENAPI_VERSION="3.0.3",
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
    )
    files = check_startup(settings)  # a bad file stops the start, naming the file and field
    celery = create_celery(settings)
    store = JobStore.from_settings(settings)
    dispatcher = Dispatcher(
        settings,
        store.deliveries(),
        files.subscriptions,
        lambda delivery_id: enqueue_delivery(celery, delivery_id),
    )
    if isinstance(app.json, DefaultJSONProvider):  # the provider Flask builds by default
        app.json.sort_keys = False
    app.extensions[EXTENSION] = ApiState(
        settings=settings,
        store=store,
        keys=KeyRing(settings.api_keys_file),
        enqueue=lambda job_id: enqueue_push(celery, job_id),
        push_message=partial(push_message, celery),
        enqueue_plan=lambda plan_id, wait: enqueue_plan(celery, plan_id, wait),
        limits=store.caller_limits(),
        audit=store.audit_log(),
        feed=store.change_feed(),
        targets=files.targets,
        apps=files.apps,
        grants=files.grants,
        replays=store.replay_guard(CHAT_REPLAY_WINDOW),
        emit=dispatcher.emit,
        waits=store.wait_slots(),
        wait_threads=threading.BoundedSemaphore(settings.waits.per_process),
    )
    app.url_map.converters["job_id"] = JobIdConverter
    api = DocumentedApi(
        app,
        spec_kwargs={
            "info": {"description": DESCRIPTION},
            "security": [{"apiKey": []}],  # every /v1 call; the probes opt out
        },
    )
    api.spec.components.security_scheme("apiKey", {"type": "http", "scheme": "bearer"})
    for name, scheme in SECURITY_SCHEMES.items():
        api.spec.components.security_scheme(name, scheme)
    api.register_converter(JobIdConverter, JobIdConverter.openapi_schema)
    app.extensions[OPENAPI_EXTENSION] = api
    for blueprint in (pushes, plans, audit_trail, health, chatops):
        api.register_blueprint(blueprint)
    app.register_blueprint(docs)
    request_telemetry.install(app, store)
    request_audit.install(app)
    app.register_blueprint(ui)  # the page; plain Flask, so it stays out of the OpenAPI
    _register_errors(app)
    install_log_redaction()
    return app


def _register_errors(app: Flask) -> None:
    @app.errorhandler(ApiProblem)
    def _problem(error: ApiProblem) -> Response:
        return problem_response(error)

    @app.errorhandler(PushgateError)
    def _domain(error: PushgateError) -> Response:
        return problem_response(from_domain(error))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        if isinstance(error, HTTPException):
            return problem_response(from_http_exception(error))
        log.exception("unhandled error")
        return problem_response(
            ApiProblem(500, "internal", "Internal error", "an unexpected error occurred")
        )
