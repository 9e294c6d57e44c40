"""Headers and path parameters as the OpenAPI document states them, and the job-id converter
that makes the path parameter's pattern true."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import BaseConverter

from api.schemas import JOB_ID_PATTERN

IDEMPOTENCY_KEY_MAX = 255
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
        "maxLength": IDEMPOTENCY_KEY_MAX,
        "pattern": IDEMPOTENCY_KEY_PATTERN,
    },
}
IF_NONE_MATCH_PARAMETER = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "schema": {"type": "string"},
    "description": "The job's ETag from an earlier answer: 304 (or, with `wait`, a wait for a "
    "change) while the job is unchanged.",
}
ETAG_HEADER = {
    "ETag": {
        "description": "The job's version, for `If-None-Match`.",
        "required": True,
        "schema": {"type": "string"},
    }
}
LOCATION_HEADER = {
    "Location": {"description": "The job's URL.", "required": True, "schema": {"type": "string"}}
}
NEW_JOB_HEADERS = {**LOCATION_HEADER, **ETAG_HEADER}


class JobIdConverter(BaseConverter):
    """A job id in a path: 32 lowercase hex digits (anything else is no job: 404)."""

    regex = JOB_ID_PATTERN[1:-1]

    @staticmethod
    def openapi_schema(_: BaseConverter) -> dict[str, Any]:
        """The path parameter's schema in the OpenAPI document."""
        return {"type": "string", "pattern": JOB_ID_PATTERN}
