"""Request schemas: the body of POST /v1/pushes and the query strings."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, post_load, validate

from api.schemas.fields import (
    AUDIT_CURSOR_PATTERN,
    CURSOR_PATTERN,
    MAX_IMAGE_LENGTH,
    MAX_TAG_LENGTH,
    MAX_TARGETS,
    PLATFORM_PATTERN,
    Grammar,
    QueryInteger,
    QueryNumber,
    StrictSchema,
)
from worker.facade import JobStatus, PushRequest
from worker.schema_rules import (
    EVENTS,
    MAX_EXTRA_TAGS,
    MAX_REFERENCE_LENGTH,
    MAX_SLUG_LENGTH,
    MAX_URL_LENGTH,
    REPOSITORY_PATTERN,
    SLUG_PATTERN,
    TAG_PATTERN,
    callback_url_pattern,
    is_daemon_source,
    parse_reference,
    source_pattern,
    validate_repository,
    validate_slug,
    validate_tag,
)


def _check_source(value: str) -> None:
    if not is_daemon_source(value):
        parse_reference(value)


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
    image = fields.String(
        data_key="target",  # the image name's field since v1; `targets` names destinations
        validate=[
            validate.Length(1, MAX_IMAGE_LENGTH),
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
    referrers = fields.String(
        validate=validate.OneOf(["copy", "skip", "require"]),
        metadata={
            "description": "Signatures, SBOMs and attestations attached to the image: copy "
            "them, skip them, or require a signature (the push is rejected without one). "
            "Default: each target's `referrers` (copy; skip for `replicated`)."
        },
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
    targets = fields.List(
        fields.String(
            validate=[validate.Length(1, MAX_SLUG_LENGTH), Grammar(SLUG_PATTERN, validate_slug)]
        ),
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
        return PushRequest.of(data)


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


class AuditArgsSchema(StrictSchema):
    """Query of GET /v1/audit."""

    app_slug = fields.String(
        validate=[validate.Length(1, MAX_SLUG_LENGTH), Grammar(SLUG_PATTERN, validate_slug)]
    )
    since = fields.AwareDateTime(
        metadata={"description": "Events from this time on (RFC 3339 with a zone)."}
    )
    cursor = fields.String(
        validate=Grammar(AUDIT_CURSOR_PATTERN),
        metadata={"description": "The `next_cursor` of the previous page."},
    )
    limit = QueryInteger(load_default=100, validate=validate.Range(1, 1000))
    failed_authentications = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Read the requests refused for want of a valid key instead (keys "
            "of every app only): the last 500 or so, each field cut to 128 characters."
        },
    )
