"""Schemas of POST /v1/plans: the wait, and the plan document."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas.fields import QueryNumber, StrictSchema


class PlanArgsSchema(StrictSchema):
    """Query of POST /v1/plans."""

    wait = QueryNumber(
        load_default=30.0,
        validate=validate.Range(1, 60),
        metadata={
            "description": "Answer within this many seconds (at most 60); slower registries get "
            "a 504 with what was learned so far."
        },
    )


class VerdictSchema(Schema):
    """One policy's verdict on the push."""

    policy = fields.String(metadata={"description": "key, attestations, registry-limits, ..."})
    rule = fields.String(metadata={"description": "The rule that decided."})
    allowed = fields.Boolean()
    detail = fields.String()


class PlannedManifestSchema(Schema):
    """A manifest the push would write."""

    digest = fields.String()
    media_type = fields.String()
    platform = fields.String(allow_none=True, metadata={"description": "os/arch of a child."})


class PlannedTagSchema(Schema):
    """A destination tag: `unchanged` (serves the digest: not written), `new` or `moving`."""

    reference = fields.String()
    state = fields.String(metadata={"enum": ["unchanged", "new", "moving"]})
    from_ = fields.String(
        attribute="from", data_key="from", allow_none=True, metadata={"description": "Now."}
    )
    to = fields.String(
        allow_none=True,
        metadata={
            "description": "After the push (null for a daemon image: its manifest is made "
            "by the push)."
        },
    )


class PlannedBlobSchema(Schema):
    """One blob at one destination."""

    digest = fields.String()
    size = fields.Integer()
    state = fields.String(metadata={"enum": ["present", "mountable", "send"]})
    mount_from = fields.String(allow_none=True)


class PlannedBlobsSchema(Schema):
    """The blobs at one destination, counted, and the bytes that would be sent."""

    present = fields.Integer()
    mountable = fields.Integer()
    to_send = fields.Integer()
    bytes_to_send = fields.Integer()
    items = fields.List(fields.Nested(PlannedBlobSchema))


class PlannedLimitSchema(Schema):
    """A known registry limit the push would hit (it is refused before sending)."""

    rule = fields.String()
    detail = fields.String(metadata={"description": "The layer, its size, and the limit."})


class PlanErrorSchema(Schema):
    """Why the push would fail (a job error's type and detail)."""

    type = fields.String()
    detail = fields.String()


class PlannedDestinationSchema(Schema):
    """What the push would do at one target."""

    target = fields.String()
    repository = fields.String()
    manifests = fields.List(fields.Nested(PlannedManifestSchema))
    tags = fields.List(fields.Nested(PlannedTagSchema))
    blobs = fields.Nested(PlannedBlobsSchema)
    limits = fields.List(fields.Nested(PlannedLimitSchema))
    error = fields.Nested(PlanErrorSchema, allow_none=True)


class PlanSchema(Schema):
    """What a push would do, found with HEAD and GET only."""

    source = fields.String()
    allowed = fields.Boolean(metadata={"description": "Every verdict allows, nothing fails."})
    verdicts = fields.List(fields.Nested(VerdictSchema))
    source_digest = fields.String(allow_none=True)
    digest = fields.String(allow_none=True, metadata={"description": "What would be pushed."})
    removed = fields.List(fields.Dict(keys=fields.String(), values=fields.String()))
    bytes_to_send = fields.Integer(metadata={"description": "Over every destination."})
    destinations = fields.List(fields.Nested(PlannedDestinationSchema))
    error = fields.Nested(PlanErrorSchema, allow_none=True)
    notes = fields.List(
        fields.String(),
        metadata={"description": "What the plan could only estimate (daemon images)."},
    )
