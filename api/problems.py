"""HTTP errors as application/problem+json (RFC 9457), and the one table of domain errors."""

from __future__ import annotations

from typing import Any

from flask import Response, json
from werkzeug.exceptions import HTTPException

from worker.errors import (
    IdempotencyConflict,
    InvalidReference,
    InvalidRequest,
    JobConflict,
    JobNotFound,
    PushgateError,
    StoreUnavailable,
)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://pushgate.dev/problems/"


class ApiProblem(Exception):
    """An error the API answers with a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = headers or {}
        self.extra = extra


# Domain error -> (HTTP status, problem slug, title, extra headers)
DOMAIN_ERRORS: dict[type[PushgateError], tuple[int, str, str, dict[str, str]]] = {
    InvalidRequest: (422, "validation-error", "Invalid request", {}),
    InvalidReference: (422, "validation-error", "Invalid request", {}),
    IdempotencyConflict: (422, "idempotency-key-reused", "Idempotency key reused", {}),
    JobNotFound: (404, "not-found", "No such push job", {}),
    JobConflict: (409, "conflict", "Conflict with the job's state", {}),
    StoreUnavailable: (503, "unavailable", "Service unavailable", {"Retry-After": "5"}),
}


def problem_response(problem: ApiProblem) -> Response:
    """The problem+json response for `problem`."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + problem.slug,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        **problem.extra,
    }
    response = Response(json.dumps(body), status=problem.status, mimetype=PROBLEM_JSON)
    response.headers.update(problem.headers)
    return response


def from_domain(error: PushgateError) -> ApiProblem:
    """The ApiProblem for a domain error, by the table above (500 for anything else)."""
    for cls in type(error).__mro__:
        if cls in DOMAIN_ERRORS:
            status, slug, title, headers = DOMAIN_ERRORS[cls]
            extra: dict[str, Any] = {}
            if isinstance(error, InvalidRequest):
                extra["errors"] = {error.field: [error.message]}
            return ApiProblem(status, slug, title, str(error), headers, **extra)
    return ApiProblem(500, "internal", "Internal error", "an unexpected error occurred")


def _flatten_messages(data: Any) -> dict[str, list[str]]:
    """webargs' {location: {field: [msgs]}} as {field: [msgs]}."""
    messages = (data or {}).get("messages") or {}
    errors: dict[str, list[str]] = {}
    for location in messages.values():
        if isinstance(location, dict):
            for name, msgs in location.items():
                errors[name] = _strings(msgs)
    return errors


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [f"{k}: {'; '.join(_strings(v))}" for k, v in value.items()]
    return [str(value)]


def from_http_exception(error: HTTPException) -> ApiProblem:
    """The ApiProblem for a werkzeug HTTP error (404 route, 405, 413, webargs' 422 ...)."""
    status = error.code or 500
    errors = _flatten_messages(getattr(error, "data", None))
    if errors:
        names = ", ".join(sorted(errors))
        return ApiProblem(
            422 if status == 422 else status,
            "validation-error",
            "Invalid request",
            f"invalid field(s): {names}",
            errors=errors,
        )
    detail = error.description or error.name
    if status == 400 and "JSON" not in detail and "json" not in detail:
        detail = f"malformed request: {detail}"
    # A 405 names the methods the resource has (RFC 9110).
    headers = {k: v for k, v in error.get_headers() if k == "Allow"}
    return ApiProblem(status, error.name.lower().replace(" ", "-"), error.name, detail, headers)
