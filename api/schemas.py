"""Marshmallow schemas of the HTTP API: requests in, jobs out; OpenAPI is generated from them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from worker.errors import InvalidReference
from worker.jobs.model import JobStatus, format_time
from worker.jobs.submit import MAX_EXTRA_TAGS, PushRequest
from worker.reference import (
    is_daemon_source,
    parse_reference,
    validate_repository,
    validate_slug,
    validate_tag,
)
from worker.webhooks.guard import MAX_URL_LENGTH, display_url
from worker.webhooks.subscriptions import EVENTS

MAX_TARGETS = 10
PLATFORM_PATTERN = r"^[a-z0-9_]+/[a-z0-9_]+(/[a-z0-9_.]+)?$"


def _grammar(check: Callable[[str], object]) -> Callable[[str], None]:
    """A marshmallow validator from one of worker.reference's validators."""

    def run(value: str) -> None:
        try:
            check(value)
        except InvalidReference as exc:
            raise ValidationError(str(exc)) from None

    return run


def _check_source(value: str) -> None:
    if not is_daemon_source(value):
        _grammar(parse_reference)(value)


class StrictSchema(Schema):
    """A schema that rejects unknown fields."""

    class Meta:
        unknown = RAISE


class PushCreateSchema(StrictSchema):
    """Body of POST /v1/pushes."""

    source = fields.String(
        required=True,
        validate=[validate.Length(1, 512), _check_source],
        metadata={
            "description": "Image to push: host[:port]/path:tag or "
            "host[:port]/path@sha256:<hex>; Docker Hub short names "
            "are normalised.",
            "example": "ghcr.io/acme/worker:1.0.1",
        },
    )
    app_slug = fields.String(
        required=True,
        validate=_grammar(validate_slug),
        metadata={"description": "The vendor app to push into.", "example": "myapp"},
    )
    target = fields.String(
        validate=_grammar(validate_repository),
        metadata={
            "description": "Image name under the app; default: the last "
            "path component of the source.",
            "example": "worker",
        },
    )
    tag = fields.String(
        validate=_grammar(validate_tag),
        metadata={
            "description": "Target tag; default: the source tag. Required "
            "when the source is by digest.",
            "example": "1.0.1",
        },
    )
    extra_tags = fields.List(
        fields.String(validate=_grammar(validate_tag)),
        validate=validate.Length(max=MAX_EXTRA_TAGS),
        metadata={"description": "More tags for the same digest."},
    )
    attestations = fields.String(
        validate=validate.OneOf(["strip", "keep", "fail"]),
        metadata={"description": "What to do with BuildKit attestation manifests (default strip)."},
    )
    platforms = fields.List(
        fields.String(validate=validate.Regexp(PLATFORM_PATTERN)),
        validate=validate.Length(max=32),
        metadata={"description": "Copy only these platforms of an index, e.g. linux/amd64."},
    )
    deadline_seconds = fields.Integer(
        validate=validate.Range(min=1),
        metadata={"description": "Fail the job as `timeout` after this long running."},
    )
    targets = fields.List(
        fields.String(validate=_grammar(validate_slug)),
        validate=validate.Length(1, MAX_TARGETS),
        metadata={
            "description": "Named targets to push to, all in one job (default: the app's "
            "default target). The operator names them in PUSHGATE_TARGETS_FILE; `replicated` "
            "is the vendor registry.",
            "example": ["replicated", "ecr-prod"],
        },
    )
    callback_url = fields.String(
        validate=validate.Length(1, MAX_URL_LENGTH),
        metadata={
            "description": "POST the job's events here, signed (Standard Webhooks) with the "
            "API key's webhook secret. The host must be allowed by PUSHGATE_WEBHOOK_HOSTS.",
            "example": "https://bot.example.com/hooks/pushgate",
        },
    )
    callback_events = fields.List(
        fields.String(validate=validate.OneOf(EVENTS)),
        validate=validate.Length(1, len(EVENTS)),
        metadata={
            "description": "Events for callback_url (default: push.succeeded, push.failed, "
            "push.cancelled; add push.started to hear when it starts)."
        },
    )

    @post_load
    def make_request(self, data: dict[str, Any], **_: Any) -> PushRequest:
        """Build the worker's PushRequest."""
        return PushRequest(**data)


class ProgressSchema(Schema):
    """Blob and byte counters of a job."""

    blobs_total = fields.Integer()
    blobs_done = fields.Integer()
    blobs_skipped = fields.Integer(
        metadata={
            "description": "Blobs the target already had, or mounted (counted in blobs_done)."
        }
    )
    blobs_mounted = fields.Integer(
        metadata={
            "description": "Blobs mounted from another "
            "repository of the app (counted in blobs_skipped)."
        }
    )
    bytes_total = fields.Integer()
    bytes_done = fields.Integer()


class JobErrorSchema(Schema):
    """Why a job failed."""

    type = fields.String(
        metadata={
            "enum": ["auth", "not_found", "rejected", "network", "timeout", "cancelled", "internal"]
        }
    )
    title = fields.String()
    detail = fields.String()


class DestinationResultSchema(Schema):
    """The outcome of one destination (target) of a job."""

    target = fields.String(metadata={"description": "The target's name."})
    registry = fields.String()
    repository = fields.String()
    references = fields.List(fields.String(), metadata={"description": "Its tags, in full."})
    status = fields.String(metadata={"enum": ["pending", "succeeded", "failed"]})
    digest = fields.String(
        allow_none=True, metadata={"description": "The digest it serves after the push."}
    )
    error = fields.Nested(JobErrorSchema, allow_none=True)


class RemovedSchema(Schema):
    """A child manifest left out of the pushed index."""

    digest = fields.String()
    reason = fields.String()


class Timestamp(fields.String):
    """A job timestamp: RFC 3339 UTC with milliseconds and a Z, as the job store writes it."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format_time(value)


class JobSchema(Schema):
    """A push job."""

    id = fields.String()
    status = fields.String(metadata={"enum": [s.value for s in JobStatus]})
    source = fields.String()
    app_slug = fields.String()
    target = fields.String()
    tags = fields.List(fields.String())
    destinations = fields.List(fields.String())
    targets = fields.List(fields.String(), metadata={"description": "The targets pushed to."})
    results = fields.List(
        fields.Nested(DestinationResultSchema),
        metadata={
            "description": "One result per target; the job succeeds only when every one did."
        },
    )
    attestations = fields.String()
    platforms = fields.List(fields.String())
    source_digest = fields.String(allow_none=True)
    digest = fields.String(allow_none=True)
    served = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "Digest each destination served after the push."},
    )
    removed = fields.List(fields.Nested(RemovedSchema))
    progress = fields.Nested(ProgressSchema)
    error = fields.Nested(JobErrorSchema, allow_none=True)
    attempts = fields.Integer(
        metadata={
            "description": "Deliveries of the job to a worker "
            "(more than 1 after a worker was lost)."
        }
    )
    retries = fields.Integer(
        metadata={"description": "Requests retried after transient registry or network failures."}
    )
    cancel_requested = fields.Boolean()
    deadline_seconds = fields.Float()
    request_id = fields.String(
        metadata={"description": "X-Request-ID of the request that created it (in its logs)."}
    )
    created_at = Timestamp(metadata={"format": "date-time"})
    started_at = Timestamp(allow_none=True, metadata={"format": "date-time"})
    finished_at = Timestamp(allow_none=True, metadata={"format": "date-time"})
    callback_url = fields.Method(
        "_callback_url",
        allow_none=True,
        metadata={"type": "string", "description": "The callback URL, without its query."},
    )
    callback_events = fields.Method(
        "_callback_events", allow_none=True, metadata={"type": "array", "items": {"type": "string"}}
    )

    def _callback_url(self, job: Any) -> str | None:
        callback = getattr(job, "callback", None)
        return display_url(str(callback["url"])) if callback else None

    def _callback_events(self, job: Any) -> list[str] | None:
        callback = getattr(job, "callback", None)
        return list(callback["events"]) if callback else None


class JobPageSchema(Schema):
    """A page of jobs, newest first."""

    items = fields.List(fields.Nested(JobSchema))
    next_cursor = fields.String(allow_none=True)


class JobListArgsSchema(StrictSchema):
    """Query of GET /v1/pushes."""

    app_slug = fields.String(validate=_grammar(validate_slug))
    status = fields.String(validate=validate.OneOf([s.value for s in JobStatus]))
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    cursor = fields.String(validate=validate.Regexp(r"^\d{13}:[0-9a-f]{32}$"))


class AuditArgsSchema(StrictSchema):
    """Query of GET /v1/audit."""

    app_slug = fields.String(validate=_grammar(validate_slug))
    since = fields.AwareDateTime(
        metadata={"description": "Events from this time on (RFC 3339 with a zone)."}
    )
    cursor = fields.String(
        validate=validate.Regexp(r"^\d{1,20}-\d{1,20}$"),
        metadata={"description": "The `next_cursor` of the previous page."},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class AuditEventSchema(Schema):
    """One audit event."""

    id = fields.String(metadata={"description": "The event's position (a cursor)."})
    time = fields.String(metadata={"format": "date-time"})
    action = fields.String(metadata={"enum": ["push", "cancel", "authenticate"]})
    result = fields.String(metadata={"enum": ["accepted", "replayed", "refused"]})
    reason = fields.String(
        allow_none=True, metadata={"description": "The problem type of a refusal."}
    )
    status = fields.Integer(metadata={"description": "The HTTP status answered."})
    key_name = fields.String(allow_none=True, metadata={"description": "Never the key itself."})
    client_address = fields.String(allow_none=True)
    app_slug = fields.String(allow_none=True)
    source = fields.String(allow_none=True)
    targets = fields.List(fields.String())
    job_id = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)


class AuditPageSchema(Schema):
    """Audit events, oldest first; `next_cursor` is null when there is nothing more yet."""

    items = fields.List(fields.Nested(AuditEventSchema))
    next_cursor = fields.String(allow_none=True)


class DeliverySchema(Schema):
    """One webhook delivery of a job's event to one subscriber."""

    id = fields.String(metadata={"description": "The webhook-id, the same on every attempt."})
    event = fields.String(metadata={"enum": list(EVENTS)})
    subscription = fields.String(
        metadata={"description": "`callback` (the job's callback_url) or a subscription's name."}
    )
    url = fields.Method(
        "_url", metadata={"type": "string", "description": "Where it goes, without the query."}
    )
    state = fields.String(
        metadata={
            "enum": ["pending", "delivered", "failed", "gone", "disabled"],
            "description": "pending (more attempts to come), delivered (a 2xx), failed "
            "(attempts exhausted), gone (410), disabled (its subscription answered 410).",
        }
    )
    attempts = fields.Integer()
    last_status = fields.Integer(allow_none=True, metadata={"description": "HTTP status."})
    last_error = fields.String()
    next_attempt = fields.String(allow_none=True, metadata={"format": "date-time"})
    created_at = fields.String(metadata={"format": "date-time"})
    delivered_at = fields.Method(
        "_delivered_at", allow_none=True, metadata={"type": "string", "format": "date-time"}
    )

    def _url(self, delivery: Any) -> str:
        return display_url(delivery.url)

    def _delivered_at(self, delivery: Any) -> str | None:
        return delivery.delivered_at or None


class DeliveryListSchema(Schema):
    """The webhook deliveries of a job, oldest first."""

    items = fields.List(fields.Nested(DeliverySchema))


class JobWaitArgsSchema(StrictSchema):
    """Query of GET /v1/pushes/{id}: the long-poll."""

    wait = fields.Float(
        load_default=0.0,
        validate=validate.Range(0, 30),
        metadata={
            "description": "Hold the answer up to this many seconds (at most 30) until the job "
            "changes from the version in `If-None-Match` (or from now without it)."
        },
    )
    wake_on = fields.String(
        load_default="change",
        validate=validate.OneOf(["change", "status"]),
        metadata={
            "description": "`change`: any change of status or progress ends the wait; "
            "`status`: only a change of status does."
        },
    )


class ProblemSchema(Schema):
    """An application/problem+json error document (RFC 9457)."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class HealthSchema(Schema):
    """Health answer."""

    status = fields.String()
