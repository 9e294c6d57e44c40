"""What a webhook says: the event body with the job, and a one-line summary for people."""

from __future__ import annotations

import json
from typing import Any

from worker.jobs.model import Job
from worker.redaction import redact
from worker.timestamps import utcnow
from worker.webhooks.guard import display_url

# Job fields that are pushgate's own bookkeeping, never sent out.
INTERNAL_FIELDS = frozenset({"owner", "run_id", "request_hash", "callback", "chat"})
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def public_job(job: Job) -> dict[str, Any]:
    """The job as a subscriber sees it: the API's job fields, the callback URL's path only."""
    data = {
        name: json.loads(value)
        for name, value in job.to_record().items()
        if name not in INTERNAL_FIELDS
    }
    if job.callback:
        data["callback_url"] = display_url(str(job.callback.get("url", "")))
    return data


def _size(count: int) -> str:
    value = float(count)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" or value >= 10 else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"  # pragma: no cover - the loop always returns


def _seconds(job: Job) -> float | None:
    if job.started_at is None:
        return None
    return ((job.finished_at or utcnow()) - job.started_at).total_seconds()


def slack_text(text: str) -> str:
    """`text` as Slack shows it literally: &, < and > escaped as Slack asks, so a source or
    tag naming `<!channel>` or a link mentions and links nothing."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def summary(event: str, job: Job) -> str:
    """One line a person can read in a chat channel; never holds a secret."""
    image = f"{job.app_slug}/{job.image}:{job.tags[0] if job.tags else '?'}"
    if len(job.tags) > 1:
        image += f" (+{', '.join(job.tags[1:])})"
    registry = job.destinations[0].split("/", 1)[0] if job.destinations else "the registry"
    took = _seconds(job)
    after = f" after {took:.1f} s" if took is not None else ""
    if event == "push.started":
        return redact(f"{image} push started from {job.source}")
    if event == "push.succeeded":
        digest = (job.digest or "")[:19] + "…" if job.digest else "no digest"
        p = job.progress
        line = (
            f"{image} pushed to {registry} ({digest}) in {took or 0:.1f} s: "
            f"{_size(p.bytes_total)}, {p.blobs_skipped} of {p.blobs_total} blobs already there"
        )
        return redact(line)
    if event == "push.cancelled":
        return redact(f"{image} push to {registry} cancelled{after}")
    detail = f"{job.error.type}: {job.error.detail}" if job.error else "internal: no detail"
    return redact(f"{image} push to {registry} failed{after}: {detail}")


def event_body(event: str, job: Job, timestamp: str) -> dict[str, Any]:
    """The Standard Webhooks body: type, timestamp, and the job with its summary."""
    return {
        "type": event,
        "timestamp": timestamp,
        "data": {**public_job(job), "summary": summary(event, job)},
    }


def render(event: str, job: Job, fmt: str, timestamp: str) -> str:
    """The request body for a subscriber's format (`standard`, or `slack`'s {"text": ...})."""
    if fmt == "slack":
        return json.dumps({"text": slack_text(summary(event, job))}, ensure_ascii=False)
    return json.dumps(event_body(event, job, timestamp), ensure_ascii=False)
