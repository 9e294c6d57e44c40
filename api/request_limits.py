"""Per-key limits at submission, the HTTP side (the store side is worker/jobs/limits.py):
pushes per minute and jobs queued or running (429 over)."""

from __future__ import annotations

from flask import g

from api.problems import ApiProblem
from api.state import state
from worker.facade import Job


def admit(job: Job) -> None:
    """429 when the caller is over its rate or has too many jobs queued or running."""
    key, settings = g.api_key, state().settings
    refusal = state().limits.admit(
        key.name,
        job.id,
        key.rate or settings.default_rate,
        key.max_active or settings.default_max_active,
    )
    if refusal is None:
        return
    if refusal.reason == "rate":
        slug, detail = "rate-limited", f"over {key.rate or settings.default_rate} pushes a minute"
    else:
        limit = key.max_active or settings.default_max_active
        slug, detail = "too-many-active", f"{limit} jobs of this key are queued or running"
    raise ApiProblem(
        429,
        slug,
        "Too many requests",
        f"{detail}; try again after {refusal.retry_after} s",
        {"Retry-After": str(refusal.retry_after)},
    )
