"""Marshmallow schemas of the HTTP API: requests in, jobs out; OpenAPI is generated from them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, post_load, validate

from worker.errors import InvalidReference
from worker.jobs.model import JobStatus, format_time
from worker.jobs.submit import MAX_EXTRA_TAGS, PushRequest
from worker.reference import (
    MAX_NAME_LENGTH,
    MAX_REFERENCE_LENGTH,
    MAX_SLUG_LENGTH,
    REPOSITORY_PATTERN,
    SLUG_PATTERN,
    TAG_PATTERN,
    is_daemon_source,
    parse_reference,
    source_pattern,
    validate_repository,
    validate_slug,
    validate_tag,
)
from worker.webhooks.guard import MAX_URL_LENGTH, callback_url_pattern, display_url
from worker.webhooks.subscriptions import EVENTS

PLATFORM_PATTERN = r"^[a-z0-9_]+/[a-z0-9_]+(?:/[a-z0-9_.]+)?$"
CURSOR_PATTERN = r"^[0-9]{13}:[0-9a-f]{32}$"
JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
# APP_SLUG/TARGET is one repository name of at most 255 characters.
MAX_TARGET_LENGTH = MAX_NAME_LENGTH - MAX_SLUG_LENGTH - 1
MAX_TAG_LENGTH = 128


class Grammar(validate.Validator):
    """The whole value must match `pattern`, which the OpenAPI document publishes (apispec reads
    `regex`); `check`, one of worker.reference's validators, words the error."""

    def __init__(self, pattern: str, check: Callable[[str], object] | None = None) -> None:
        self.regex = re.compile(pattern)
        self.check = check

    def __call__(self, value: str) -> str:
        """Return `value` if it matches whole, else raise ValidationError."""
        if self.check is not None:
            try:
                self.check(value)
            except InvalidReference as exc:
                raise ValidationError(str(exc)) from None
        if self.regex.fullmatch(value) is None:
            raise ValidationError(f"does not match the pattern {self.regex.pattern}")
        return value


def _check_source(value: str) -> None:
    if not is_daemon_source(value):
        parse_reference(value)


class QueryInteger(fields.Integer):
    """An integer in a query string: ASCII digits only (int() would take ' 5' or Arabic digits)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not value.isascii() or not value.isdigit():
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class QueryNumber(fields.Float):
    """A number in a query string, as JSON writes one (float() would take ' 5', '1_0' or Arabic
    digits); the OpenAPI document says `number`, so this is the grammar a client can follow."""

    GRAMMAR = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or self.GRAMMAR.fullmatch(value) is None:
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictSchema(Schema):
    """A schema that rejects unknown fields."""

    class Meta:
        unknown = RAISE


class PushCreateSchema(StrictSchema):
    """Body of POST /v1/pushes."""

    source = fields.String(
        required=True,
        validate=[
            validate.Length(1, MAX_REFERENCE_LENGTH),
            Grammar(source_pattern(None, daemon=True), _check_source),
        ],
        metadata={
            "description": "Image to push: host[:port]/path:tag or "
            "host[:port]/path@sha256:<hex>; Docker Hub short names "
            "are normalised.",
            "example": "ghcr.io/acme/worker:1.0.1",
        },
    )
    app_slug = fields.String(
        required=True,
        validate=[validate.Length(1, MAX_SLUG_LENGTH), Grammar(SLUG_PATTERN, validate_slug)],
        metadata={"description": "The vendor app to push into.", "example": "myapp"},
    )
    target = fields.String(
        validate=[
            validate.Length(1, MAX_TARGET_LENGTH),
            Grammar(REPOSITORY_PATTERN, validate_repository),
        ],
        metadata={
            "description": "Image name under the app; default: the last "
            "path component of the source.",
            "example": "worker",
        },
    )
    tag = fields.String(
        validate=[validate.Length(1, MAX_TAG_LENGTH), Grammar(TAG_PATTERN, validate_tag)],
        metadata={
            "description": "Target tag; default: the source tag. Required "
            "when the source is by digest.",
            "example": "1.0.1",
        },
    )
    extra_tags = fields.List(
        fields.String(
            validate=[validate.Length(1, MAX_TAG_LENGTH), Grammar(TAG_PATTERN, validate_tag)]
        ),
        validate=validate.Length(max=MAX_EXTRA_TAGS),
        metadata={"description": "More tags for the same digest."},
    )
    attestations = fields.String(
        validate=validate.OneOf(["strip", "keep", "fail"]),
        metadata={"description": "What to do with BuildKit attestation manifests (default strip)."},
    )
    platforms = fields.List(
        fields.String(validate=Grammar(PLATFORM_PATTERN)),
        validate=validate.Length(max=32),
        metadata={"description": "Copy only these platforms of an index, e.g. linux/amd64."},
    )
    deadline_seconds = fields.Integer(
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "Fail the job as `timeout` after this long running."},
    )
    callback_url = fields.String(
        validate=validate.Length(1, MAX_URL_LENGTH),
        metadata={
            "description": "POST the job's events here, signed (Standard Webhooks) with the "
            "API key's webhook secret. The host must be allowed by PUSHGATE_WEBHOOK_HOSTS.",
            "example": "https://bot.example.com/hooks/pushgate",
            # Checked by worker.webhooks.guard (422 naming callback_url), published here.
            "pattern": callback_url_pattern(),
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


# Rules across fields, added to PushCreate's schema in the document: a source by digest has no
# tag to reuse, so the request must name one (plan_job refuses it otherwise), and
# callback_events needs a callback_url. Said with `not` so that generated clients keep one
# PushCreate model.
PUSH_CREATE_RULES: dict[str, Any] = {
    "not": {
        "anyOf": [
            {
                "required": ["source"],
                "properties": {"source": {"pattern": "@"}},
                "not": {"required": ["tag"]},
            },
            {"required": ["callback_events"], "not": {"required": ["callback_url"]}},
        ]
    }
}


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

    app_slug = fields.String(
        validate=[validate.Length(1, MAX_SLUG_LENGTH), Grammar(SLUG_PATTERN, validate_slug)]
    )
    status = fields.String(validate=validate.OneOf([s.value for s in JobStatus]))
    limit = QueryInteger(load_default=20, validate=validate.Range(1, 100))
    cursor = fields.String(
        validate=Grammar(CURSOR_PATTERN),
        metadata={"description": "next_cursor of the previous page."},
    )


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

    wait = QueryNumber(
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
    """An application/problem+json error document (RFC 9457); members may be added."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class HealthSchema(Schema):
    """Health answer."""

    status = fields.String()
