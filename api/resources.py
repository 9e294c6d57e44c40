"""HTTP resources: push jobs under /v1 (API key required) and the health probes."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, g, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.routing import BaseConverter

from api.problems import ApiProblem
from api.schemas import (
    JOB_ID_PATTERN,
    HealthSchema,
    JobListArgsSchema,
    JobPageSchema,
    JobSchema,
    PushCreateSchema,
)
from api.spec import problems
from api.state import state
from worker.jobs.model import Job, JobPage
from worker.jobs.submit import PushRequest, plan_job, submit, submit_idempotent

pushes = Blueprint(
    "pushes",
    __name__,
    url_prefix="/v1/pushes",
    description="Push jobs: copy an image into the vendor registry.",
)
health = Blueprint("health", __name__, description="Liveness and readiness probes.")

_IDEMPOTENCY_KEY_MAX = 255
# Visible ASCII, spaces only inside: HTTP trims a header value's ends, so a key must have none.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~](?:[ -~]*[!-~])?$"
IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "Retries with the same key and body within 24 h return the first job (200).",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": _IDEMPOTENCY_KEY_MAX,
        "pattern": IDEMPOTENCY_KEY_PATTERN,
    },
}
LOCATION_HEADER = {
    "Location": {"description": "The job's URL.", "required": True, "schema": {"type": "string"}}
}


class JobIdConverter(BaseConverter):
    """A job id in a path: 32 lowercase hex digits (anything else is no job: 404)."""

    regex = JOB_ID_PATTERN[1:-1]

    @staticmethod
    def openapi_schema(_: BaseConverter) -> dict[str, Any]:
        """The path parameter's schema in the OpenAPI document."""
        return {"type": "string", "pattern": JOB_ID_PATTERN}


@pushes.before_request
def authenticate() -> None:
    """Resolve the caller's API key from `Authorization: Bearer`; 401 without a valid one."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    key = state().keys.lookup(presented.strip()) if scheme.lower() == "bearer" else None
    if key is None:
        raise ApiProblem(
            401,
            "unauthorized",
            "Unauthorized",
            "send a valid API key as `Authorization: Bearer <key>`",
            {"WWW-Authenticate": 'Bearer realm="pushgate"'},
        )
    g.api_key = key


def _forbid_unless_allowed(app_slug: str) -> None:
    if not g.api_key.allows(app_slug):
        raise ApiProblem(
            403, "forbidden", "Forbidden", f"this API key may not push to or read app {app_slug!r}"
        )


def _visible_job(job_id: str) -> Job:
    job = state().store.get(job_id)
    _forbid_unless_allowed(job.app_slug)
    return job


@pushes.route("")
class Pushes(MethodView):
    """The collection of push jobs."""

    @pushes.arguments(PushCreateSchema)
    @pushes.response(202, JobSchema, description="The job was queued.", headers=LOCATION_HEADER)
    @pushes.alt_response(
        200,
        schema=JobSchema,
        description="Replay of an Idempotency-Key: the earlier job.",
        headers=LOCATION_HEADER,
    )
    @problems(
        pushes,
        _400="Malformed JSON, or a bad Idempotency-Key.",
        _403="Slug not allowed for the key.",
        _413="The body is larger than 64 KiB.",
        _422="Invalid request, or an Idempotency-Key reused with another body.",
    )
    @pushes.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    def post(self, push: PushRequest) -> tuple[Job, int, dict[str, str]]:
        """Queue a push of `source` into the app's namespace of the vendor registry."""
        _forbid_unless_allowed(push.app_slug)
        st = state()
        job = plan_job(push, st.settings, owner=g.api_key.name)
        idempotency_key = request.headers.get("Idempotency-Key")
        created = True
        if idempotency_key is not None:
            if len(idempotency_key) > _IDEMPOTENCY_KEY_MAX or not re.fullmatch(
                IDEMPOTENCY_KEY_PATTERN, idempotency_key
            ):
                raise ApiProblem(
                    400,
                    "bad-idempotency-key",
                    "Bad Idempotency-Key",
                    f"Idempotency-Key must be 1 to {_IDEMPOTENCY_KEY_MAX} visible ASCII "
                    "characters (spaces only inside)",
                )
            job, created = submit_idempotent(
                st.store, job, st.enqueue, g.api_key.key_sha256, idempotency_key
            )
        else:
            submit(st.store, job, st.enqueue)
        location = url_for("pushes.PushById", job_id=job.id)
        return job, 202 if created else 200, {"Location": location}

    @pushes.arguments(JobListArgsSchema, location="query")
    @pushes.response(200, JobPageSchema)
    @problems(pushes, _403="Slug not allowed for the key.")
    def get(self, args: dict[str, Any]) -> JobPage:
        """List push jobs newest first, only those of the key's app slugs."""
        key = g.api_key
        slug = args.get("app_slug")
        if slug is not None:
            _forbid_unless_allowed(slug)
            slugs: list[str] | None = [slug]
        else:
            slugs = None if key.all_slugs else sorted(key.app_slugs)
        return state().store.list_jobs(slugs, args.get("status"), args["limit"], args.get("cursor"))


@pushes.route("/<job_id:job_id>")
class PushById(MethodView):
    """One push job."""

    @pushes.response(200, JobSchema)
    @problems(pushes, _403="The job's app is not allowed for the key.", _404="No such job.")
    def get(self, job_id: str) -> Job:
        """The job, with its status, progress, digests and error."""
        return _visible_job(job_id)


@pushes.route("/<job_id:job_id>/cancel")
class PushCancel(MethodView):
    """Cancelling a push job."""

    @pushes.response(202, JobSchema, description="Cancelled, or being stopped.")
    @problems(
        pushes,
        _403="The job's app is not allowed for the key.",
        _404="No such job.",
        _409="The job already finished.",
    )
    def post(self, job_id: str) -> Job:
        """Cancel: a queued job never starts; a running one stops within seconds."""
        _visible_job(job_id)
        return state().store.request_cancel(job_id)


@health.route("/healthz")
class Healthz(MethodView):
    """Liveness."""

    @health.response(200, HealthSchema)
    @health.doc(security=[])
    def get(self) -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}


@health.route("/readyz")
class Readyz(MethodView):
    """Readiness."""

    @health.response(200, HealthSchema)
    @problems(health, _503="Redis unreachable.")
    @health.doc(security=[])
    def get(self) -> dict[str, str] | Response:
        """Ready when Redis answers."""
        state().store.ping()
        return {"status": "ready"}
