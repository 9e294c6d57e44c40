"""Per-key limits at submission, the HTTP side (the store side is worker/jobs/limits.py):
pushes per minute and jobs queued or running (429 over)."""

from __future__ import annotations

from typing import Any

from flask import g

from api.problems import ApiProblem
from api.state import state
from worker.facade import Job, Refusal


def caller_limits() -> tuple[str, int, int]:
    """The caller's key name, pushes per minute and jobs queued or running at most."""
    key, settings = g.api_key, state().settings
    return (
        key.name,
        key.rate or settings.default_rate,
        key.max_active or settings.default_max_active,
    )


def admit(job: Job) -> None:
    """429 when the caller is over its rate or has too many jobs queued or running."""
    refuse(state().limits.admit(caller_limits()[0], job.id, *caller_limits()[1:]))


def submit_admitted(job: Job, message: tuple[str, str], audit_event: dict[str, Any]) -> None:
    """Store `job` with its queue `message` and `audit_event` in one step, if the caller's
    limits admit it (429 otherwise, and nothing is stored)."""
    refuse(state().limits.submit(job, message, caller_limits(), audit_event))


def refuse(refusal: Refusal | None) -> None:
    """The 429 of a refusal by the caller's limits (nothing when None)."""
    if refusal is None:
        return
    _, rate, max_active = caller_limits()
    if refusal.reason == "rate":
        slug, detail = "rate-limited", f"over {rate} pushes a minute"
    else:
        slug, detail = "too-many-active", f"{max_active} jobs of this key are queued or running"
    raise ApiProblem(
        429,
        slug,
        "Too many requests",
        f"{detail}; try again after {refusal.retry_after} s",
        {"Retry-After": str(refusal.retry_after)},
    )
