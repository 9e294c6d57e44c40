"""Response schemas of what happened around jobs: audit events and webhook deliveries."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from api.schemas.responses import VerifiedSchema
from worker.schema_rules import CHAT_EVENTS, is_standing, shown_url


class AuditEventSchema(Schema):
    """One audit event."""

    id = fields.String(metadata={"description": "The event's position (a cursor)."})
    time = fields.String(metadata={"format": "date-time"})
    action = fields.String(
        metadata={
            "enum": ["push", "cancel", "authenticate", "command", "verify"],
            "description": "`command`: a chat command that neither pushed nor cancelled. "
            "`verify`: a worker checked an image's signatures before writing anything.",
        }
    )
    result = fields.String(metadata={"enum": ["accepted", "replayed", "refused", "verified"]})
    reason = fields.String(
        allow_none=True,
        metadata={"description": "The problem type of a refusal (of a `verify`: its detail)."},
    )
    status = fields.Integer(metadata={"description": "The HTTP status answered."})
    key_name = fields.String(allow_none=True, metadata={"description": "Never the key itself."})
    client_address = fields.String(allow_none=True)
    app_slug = fields.String(allow_none=True)
    source = fields.String(allow_none=True)
    destinations = fields.List(
        fields.String(),
        metadata={"description": "The references the push writes (registry/repository:tag)."},
    )
    targets = fields.Method(
        "_targets",
        metadata={
            "type": "array",
            "items": {"type": "string"},
            "deprecated": True,
            "description": "The same list as `destinations`, under its former name.",
        },
    )
    job_id = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    verified = fields.List(
        fields.Nested(VerifiedSchema),
        metadata={"description": "Of a `verify`: which key verified which digest."},
    )
    chat_user = fields.String(
        allow_none=True,
        metadata={"description": "`platform:team/user (name)` of a chat command; else null."},
    )

    def _targets(self, event: dict[str, Any]) -> list[str]:
        return list(event.get("destinations") or [])


class AuditPageSchema(Schema):
    """Audit events, oldest first; `next_cursor` is null when there is nothing more yet."""

    items = fields.List(fields.Nested(AuditEventSchema))
    next_cursor = fields.String(allow_none=True)


class DeliverySchema(Schema):
    """One webhook delivery of a job's event to one subscriber."""

    id = fields.String(metadata={"description": "The webhook-id, the same on every attempt."})
    event = fields.String(metadata={"enum": list(CHAT_EVENTS)})
    subscription = fields.String(
        metadata={
            "description": "`callback` (the job's callback_url), `chat:response_url` (a chat "
            "command's) or a standing subscription's name."
        }
    )
    url = fields.Method(
        "_url",
        allow_none=True,
        metadata={
            "type": "string",
            "nullable": True,
            "description": "Where it goes, without the query (a chat's: only the host); null "
            "for a standing subscription, which callers see by name only.",
        },
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

    def _url(self, delivery: Any) -> str | None:
        return None if is_standing(delivery) else shown_url(delivery)

    def _delivered_at(self, delivery: Any) -> str | None:
        return delivery.delivered_at or None


class DeliveryListSchema(Schema):
    """The webhook deliveries of a job, oldest first."""

    items = fields.List(fields.Nested(DeliverySchema))
