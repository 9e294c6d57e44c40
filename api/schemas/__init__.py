"""Marshmallow schemas of the HTTP API: requests in, jobs out; OpenAPI is generated from them."""

from __future__ import annotations

from api.schemas.events import (
    AuditEventSchema,
    AuditPageSchema,
    DeliveryListSchema,
    DeliverySchema,
)
from api.schemas.fields import (
    AUDIT_CURSOR_PATTERN,
    CURSOR_PATTERN,
    JOB_ID_PATTERN,
    MAX_IMAGE_LENGTH,
    MAX_TAG_LENGTH,
    MAX_TARGETS,
    PLATFORM_PATTERN,
    Grammar,
    QueryInteger,
    QueryNumber,
    StrictSchema,
)
from api.schemas.requests import (
    PUSH_CREATE_RULES,
    AuditArgsSchema,
    JobListArgsSchema,
    JobWaitArgsSchema,
    PushCreateSchema,
)
from api.schemas.responses import (
    DestinationResultSchema,
    HealthSchema,
    JobErrorSchema,
    JobPageSchema,
    JobSchema,
    ProblemSchema,
    ProgressSchema,
    RemovedSchema,
    Timestamp,
)

__all__ = [
    "AUDIT_CURSOR_PATTERN",
    "CURSOR_PATTERN",
    "JOB_ID_PATTERN",
    "MAX_IMAGE_LENGTH",
    "MAX_TAG_LENGTH",
    "MAX_TARGETS",
    "PLATFORM_PATTERN",
    "PUSH_CREATE_RULES",
    "AuditArgsSchema",
    "AuditEventSchema",
    "AuditPageSchema",
    "DeliveryListSchema",
    "DeliverySchema",
    "DestinationResultSchema",
    "Grammar",
    "HealthSchema",
    "JobErrorSchema",
    "JobListArgsSchema",
    "JobPageSchema",
    "JobSchema",
    "JobWaitArgsSchema",
    "ProblemSchema",
    "ProgressSchema",
    "PushCreateSchema",
    "QueryInteger",
    "QueryNumber",
    "RemovedSchema",
    "StrictSchema",
    "Timestamp",
]
