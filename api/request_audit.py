"""Audit events, the HTTP side (the store side is worker/jobs/audit.py): every push accepted
or refused, every cancel and every failed authentication is one event, logged on
`pushgate.audit` and kept in Redis (read with GET /v1/audit)."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from api.state import state
from worker.errors import StoreUnavailable
from worker.facade import (
    AUTH_FAILURES,
    Job,
    LogFormat,
    current_format,
    cut_fields,
    format_time,
    utcnow,
)

log = logging.getLogger("pushgate.audit")
ACCEPTED = 202  # the answer of a push queued now


def mark(action: str, job: Job | None = None, stored: dict[str, Any] | None = None) -> None:
    """Have this request recorded as `action` (push, cancel, authenticate) when it ends; with
    `stored`, its event as already stored (with its job): then, if the request ends with that
    event's status, it is only logged."""
    g.audit_action = action
    if job is not None:
        g.audit_job = job
    g.audit_stored = stored


def accepted_event(job: Job) -> dict[str, Any]:
    """The audit event this request makes if it queues `job` (its 202), to store with the
    job in one step (then mark it with `stored`)."""
    return {**_event(ACCEPTED, None, job), "action": "push"}


def _event(status: int, problem: Any, job: Job | None) -> dict[str, Any]:
    body = _body() if request.method == "POST" else None
    key = g.get("api_key")
    reason = str(problem.get("type", "")).rsplit("/", 1)[-1] if isinstance(problem, dict) else None
    if status < 400:
        result = "replayed" if (g.get("audit_action") == "push" and status == 200) else "accepted"
    else:
        result = "refused"
    result = g.get("audit_result") or result  # a chat command answers 200 whatever it came to
    reason = g.get("audit_reason") or reason
    return {
        "time": format_time(utcnow()),
        "action": g.get("audit_action"),
        "result": result,
        "reason": reason,
        "status": status,
        "key_name": key.name if key is not None else None,
        "client_address": request.remote_addr,
        "app_slug": job.app_slug if job else _text((body or {}).get("app_slug")),
        "source": job.source if job else _text((body or {}).get("source")),
        "destinations": job.destinations if job else [],
        "job_id": job.id if job else None,
        "request_id": g.get("request_id"),
        "chat_user": g.get("chat_user"),  # platform:team/user (name) of a chat command
    }


def _body() -> dict[str, Any]:
    """The request's JSON object, or {} (not JSON, or too big to read)."""
    try:
        body = request.get_json(silent=True)
    except HTTPException:
        return {}
    return body if isinstance(body, dict) else {}


def _text(value: object) -> str | None:
    return value[:512] if isinstance(value, str) else None


def record(response: Response) -> Response:
    """After a request marked for the audit: log its event and store it (best effort)."""
    if g.get("audit_action") is None:
        return response
    status = response.status_code
    stored = g.get("audit_stored")
    stored = stored if stored is not None and stored["status"] == status else None
    problem = response.get_json(silent=True) if status >= 400 else None
    event = stored or _event(status, problem, g.get("audit_job"))
    anonymous = event["action"] == "authenticate" and response.status_code == 401
    if anonymous:  # a caller without a key: nothing of theirs is kept whole
        event = cut_fields(event)
        AUTH_FAILURES.inc()
    summary = f"audit {event['action']} {event['result']}"
    if current_format() is LogFormat.JSON:
        log.info(summary, extra=event)
    else:
        log.info("%s %s", summary, json.dumps(event, separators=(",", ":")))
    if stored is not None:  # already stored with its job
        return response
    try:
        if anonymous:
            state().audit.append_failed_authentication(event)
        else:
            state().audit.append(event)
    except StoreUnavailable as exc:  # the line above is the record of last resort
        with contextlib.suppress(Exception):
            log.warning("audit event not stored: %s", exc)
    return response


def install(app: Flask) -> None:
    """Record marked requests' events after every request."""
    app.after_request(record)
