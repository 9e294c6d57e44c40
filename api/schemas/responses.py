"""Response schemas: jobs, pages of jobs, problems and health (events: api.schemas.events)."""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, fields

from worker.facade import JobStatus, format_time
from worker.schema_rules import PHASES, display_url


class Timestamp(fields.String):
    """A job timestamp: RFC 3339 UTC with milliseconds and a Z, as the job store writes it."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format_time(value)


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


class AttachedSchema(Schema):
    """A manifest attached to the image (a signature, an SBOM, an attestation)."""

    digest = fields.String()
    kind = fields.String(
        metadata={"description": "Its artifactType, or the cosign tag kind (cosign sig)."}
    )
    subject = fields.String(metadata={"description": "The digest it is attached to."})


class VerifiedSchema(Schema):
    """A digest whose signature was checked with one of the app's keys."""

    digest = fields.String()
    key = fields.String(metadata={"description": "The key file that verified it."})
    layout = fields.String(metadata={"enum": ["cosign .sig tag", "sigstore bundle"]})


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
    referrers = fields.String(metadata={"enum": ["copy", "skip", "require"]})
    carried = fields.List(
        fields.Nested(AttachedSchema),
        metadata={"description": "Signatures, SBOMs and attestations written with the image."},
    )
    skipped = fields.List(
        fields.Nested(AttachedSchema),
        metadata={"description": "Attached to the image, not written (referrers: skip)."},
    )
    left_behind = fields.List(
        fields.Nested(AttachedSchema),
        metadata={
            "description": "Attached to the source index digest, which the push changed "
            "(attestations stripped): they cannot follow it."
        },
    )


class PhaseSchema(Schema):
    """Where part of a job's last attempt went; phases overlap (checks run beside uploads)."""

    name = fields.String(metadata={"enum": list(PHASES)})
    start = Timestamp(metadata={"format": "date-time", "description": "Its first step began."})
    seconds = fields.Float(metadata={"description": "From its first start to its last end."})
    busy = fields.Float(metadata={"description": "Its steps' seconds added up over threads."})


class RemovedSchema(Schema):
    """A child manifest left out of the pushed index."""

    digest = fields.String()
    reason = fields.String()


class JobSchema(Schema):
    """A push job."""

    id = fields.String()
    status = fields.String(metadata={"enum": [s.value for s in JobStatus]})
    source = fields.String()
    app_slug = fields.String()
    image = fields.String(
        data_key="target",
        metadata={"description": "The image's name under the app (not a named target)."},
    )
    tags = fields.List(fields.String())
    destinations = fields.List(fields.String())
    targets = fields.List(fields.String(), metadata={"description": "The targets pushed to."})
    results = fields.List(
        fields.Nested(DestinationResultSchema),
        metadata={
            "description": "One result per target; the job succeeds only when every one did."
        },
    )
    attestations = fields.String(attribute="options.attestations")
    platforms = fields.List(fields.String(), attribute="options.platforms")
    source_digest = fields.String(allow_none=True)
    digest = fields.String(allow_none=True)
    served = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "Digest each destination served after the push."},
    )
    removed = fields.List(fields.Nested(RemovedSchema))
    referrers = fields.String(
        allow_none=True, metadata={"description": "The request's referrers policy, if any."}
    )
    verified = fields.List(
        fields.Nested(VerifiedSchema),
        metadata={"description": "Signatures verified before anything was written."},
    )
    phases = fields.List(
        fields.Nested(PhaseSchema),
        metadata={"description": "Where the time of the job's last attempt went, once it ends."},
    )
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


class ProblemSchema(Schema):
    """An application/problem+json error document (RFC 9457); members may be added."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    rule = fields.String(
        metadata={
            "description": "A 403's refusing rule: `key.app_slugs` or `key.targets` (the API "
            "keys file), or the app's `sources`, `daemon_images`, `targets` or `app` (an entry "
            "in the apps file)"
        }
    )
    file = fields.String(
        allow_none=True, metadata={"description": "A 403's file holding the refusing rule"}
    )


class HealthSchema(Schema):
    """Health answer."""

    status = fields.String()
