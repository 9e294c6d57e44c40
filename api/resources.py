"""HTTP resources: push jobs under /v1 (API key required) and the health probes."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.http import quote_etag

from api import request_audit
from api.longpoll import MAX_WAIT, job_etag, shown, wait_for_change
from api.parameters import (
    ETAG_HEADER,
    IDEMPOTENCY_KEY_PARAMETER,
    IF_NONE_MATCH_PARAMETER,
    NEW_JOB_HEADERS,
)
from api.problems import ApiProblem
from api.schemas import (
    AuditArgsSchema,
    AuditPageSchema,
    DeliveryListSchema,
    HealthSchema,
    JobListArgsSchema,
    JobPageSchema,
    JobSchema,
    JobWaitArgsSchema,
    PushCreateSchema,
)
from api.spec import problems
from api.state import state
from api.submission import cancel_push, forbid_unless_allowed, queue_push, visible_job
from api.waits import wait_slot
from worker.facade import AuditPage, Job, JobPage, PushRequest, bind

pushes = Blueprint(
    "pushes",
    __name__,
    url_prefix="/v1/pushes",
    description="Push jobs: copy an image into the vendor registry.",
)
audit_trail = Blueprint(
    "audit", __name__, url_prefix="/v1/audit", description="The audit trail (keys with audit)."
)
health = Blueprint("health", __name__, description="Liveness and readiness probes.")


@audit_trail.before_request
@pushes.before_request
def authenticate() -> None:
    """Resolve the caller's API key from `Authorization: Bearer`; 401 without a valid one."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    key = state().keys.lookup(presented.strip()) if scheme.lower() == "bearer" else None
    if key is None:
        request_audit.mark("authenticate")
        raise ApiProblem(
            401,
            "unauthorized",
            "Unauthorized",
            "send a valid API key as `Authorization: Bearer <key>`",
            {"WWW-Authenticate": 'Bearer realm="pushgate"'},
        )
    g.api_key = key
    action = _AUDITED.get(str(request.endpoint)) if request.method == "POST" else None
    if action is not None:
        request_audit.mark(action)
    bind(key_name=key.name)


_AUDITED = {"pushes.Pushes": "push", "pushes.PushCancel": "cancel"}


def _etag(job: Job) -> str:
    return quote_etag(job_etag(job))


@pushes.route("")
class Pushes(MethodView):
    """The collection of push jobs."""

    @pushes.arguments(PushCreateSchema())
    @pushes.response(202, JobSchema, description="The job was queued.", headers=NEW_JOB_HEADERS)
    @pushes.alt_response(
        200,
        schema=JobSchema,
        description="Replay of an Idempotency-Key: the earlier job.",
        headers=NEW_JOB_HEADERS,
    )
    @problems(
        pushes,
        _400="Malformed JSON, or a bad Idempotency-Key.",
        _403="The key, or the app's policy in the apps file, does not allow the slug, the "
        "source, the daemon image or a target; `rule` and `file` name the refusing rule.",
        _413="The body is larger than 64 KiB.",
        _422="Invalid request (e.g. a `callback_url` the key or the service does not allow, or an "
        "unknown target), or an Idempotency-Key reused with another body.",
        _429="Over the key's limits (requests per minute or active jobs); retry after Retry-After.",
    )
    @pushes.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    def post(self, push: PushRequest) -> tuple[Response, int, dict[str, str]]:
        """Queue a push of `source` to the app's default target, or to the named `targets`."""
        job, created = queue_push(push, request.headers.get("Idempotency-Key"))
        location = url_for("pushes.PushById", job_id=job.id)
        body, etag = shown(job)  # one dump for the body and its ETag
        headers = {"Location": location, "ETag": quote_etag(etag)}
        return jsonify(body), 202 if created else 200, headers

    @pushes.arguments(JobListArgsSchema(), location="query")
    @pushes.response(200, JobPageSchema)
    @problems(pushes, _403="Slug not allowed for the key.")
    def get(self, args: dict[str, Any]) -> JobPage:
        """List push jobs newest first, only those of the key's app slugs."""
        key = g.api_key
        slug = args.get("app_slug")
        if slug is not None:
            forbid_unless_allowed(slug)
            slugs: list[str] | None = [slug]
        else:
            slugs = None if key.all_slugs else sorted(key.app_slugs)
        return state().store.list_jobs(slugs, args.get("status"), args["limit"], args.get("cursor"))


# A path-level parameter: an operation's own `parameters` doc would replace the query's.
@pushes.route("/<job_id:job_id>", parameters=[IF_NONE_MATCH_PARAMETER])
class PushById(MethodView):
    """One push job."""

    @pushes.arguments(JobWaitArgsSchema(), location="query")
    @pushes.response(200, JobSchema, headers=ETAG_HEADER)
    @pushes.alt_response(
        304, description="Unchanged from the version in `If-None-Match`.", headers=ETAG_HEADER
    )
    @problems(
        pushes,
        _403="The job's app is not allowed for the key.",
        _404="No such job.",
        _429="With `wait`: the key (PUSHGATE_MAX_WAITS_PER_KEY) or this API process already "
        "holds all the waits it may; retry after Retry-After, or without `wait`.",
    )
    def get(
        self, args: dict[str, Any], job_id: str
    ) -> tuple[Response, int, dict[str, str]] | Response:
        """The job, with its status, progress, digests and error.

        With `wait`, answered as soon as the job changes (or has finished), or when the wait is
        up. With `If-None-Match`, 304 while the job is still that version.
        """
        job = visible_job(job_id)
        known = request.if_none_match
        if args["wait"] > 0:
            with wait_slot(min(args["wait"], MAX_WAIT)):
                job = wait_for_change(
                    state().feed,
                    job_id,
                    lambda: visible_job(job_id),
                    args["wait"],
                    known,
                    status_only=args["wake_on"] == "status",
                )
        body, etag = shown(job)  # one dump for the body and its ETag
        if known.contains(etag):
            return Response(status=304, headers={"ETag": quote_etag(etag)})
        return jsonify(body), 200, {"ETag": quote_etag(etag)}


@pushes.route("/<job_id:job_id>/cancel")
class PushCancel(MethodView):
    """Cancelling a push job."""

    @pushes.response(
        202, JobSchema, description="Cancelled, or being stopped.", headers=ETAG_HEADER
    )
    @problems(
        pushes,
        _403="The job's app is not allowed for the key.",
        _404="No such job.",
        _409="The job already finished.",
    )
    def post(self, job_id: str) -> tuple[Job, int, dict[str, str]]:
        """Cancel: a queued job never starts; a running one stops within seconds."""
        job = cancel_push(job_id)
        return job, 202, {"ETag": _etag(job)}


@audit_trail.route("")
class AuditEvents(MethodView):
    """Audit events, oldest first."""

    @audit_trail.arguments(AuditArgsSchema(), location="query")
    @audit_trail.response(200, AuditPageSchema)
    @problems(
        audit_trail,
        _403="The key may not read the audit (no `audit: true`), or not that app's.",
    )
    def get(self, args: dict[str, Any]) -> AuditPage:
        """Events from `since` or after `cursor`, of one app or (for keys of every app) all."""
        key = g.api_key
        slug = args.get("app_slug")
        if not key.audit:
            raise ApiProblem(403, "forbidden", "Forbidden", "this API key may not read the audit")
        if (slug is None or args["failed_authentications"]) and not key.all_slugs:
            raise ApiProblem(
                403, "forbidden", "Forbidden", "pass app_slug: this key reads only its own apps"
            )
        if slug is not None and not key.allows(slug):
            raise ApiProblem(403, "forbidden", "Forbidden", f"this API key may not read {slug!r}")
        return state().audit.page(
            slug,
            args.get("since"),
            args.get("cursor"),
            args["limit"],
            failed_authentications=args["failed_authentications"],
        )


@pushes.route("/<job_id:job_id>/deliveries")
class PushDeliveries(MethodView):
    """The webhook deliveries of a push job."""

    @pushes.response(200, DeliveryListSchema)
    @problems(pushes, _403="The job's app is not allowed for the key.", _404="No such job.")
    def get(self, job_id: str) -> dict[str, Any]:
        """Each delivery of the job's webhook events: URL (no query), state, attempts."""
        visible_job(job_id)
        st = state()
        return {"items": st.store.deliveries().for_job(job_id)}


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
