"""What pushgate says in chat: Slack's Block Kit with a plain-text fallback, or Mattermost's
Markdown text. Every piece of text that came from a caller or a registry is escaped."""

from __future__ import annotations

import json
import re
from typing import Any

from worker.jobs.model import Job
from worker.redaction import redact
from worker.webhooks.payload import summary

SLACK, MATTERMOST = "slack", "mattermost"
QUEUED = "push.queued"  # the chat's own first update; not a webhook event
_MATTERMOST_SPECIAL = re.compile(r"([\\`*_~\[\]<>#|!])")
_HEADLINES = {
    QUEUED: "Push queued",
    "push.started": "Push running",
    "push.succeeded": "Push succeeded",
    "push.failed": "Push failed",
    "push.cancelled": "Push cancelled",
}
_MAX_TEXT = 2900  # a Block Kit section holds 3000 characters


def escape(platform: str, text: str) -> str:
    """`text` as plain words on `platform`: no link, mention or markup can come of it."""
    if platform == SLACK:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MATTERMOST_SPECIAL.sub(r"\\\1", text)


def _bold(platform: str, text: str) -> str:
    return f"*{text}*" if platform == SLACK else f"**{text}**"


def message(
    platform: str, headline: str, lines: list[str], ephemeral: bool = False
) -> dict[str, Any]:
    """A chat message: a bold headline (pushgate's own words) and escaped `lines`."""
    body = [escape(platform, redact(line))[:_MAX_TEXT] for line in lines]
    kind = "ephemeral" if ephemeral else "in_channel"
    text = "\n".join([_bold(platform, headline), *body])
    if platform != SLACK:
        return {"response_type": kind, "text": text}
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _bold(platform, headline)}}
    ]
    if body:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(body)}})
    return {
        "response_type": kind,
        "replace_original": False,
        "text": "\n".join([headline, *body]),  # the fallback of notifications and old clients
        "blocks": blocks,
    }


def job_lines(job: Job) -> list[str]:
    """Where a job stands, in a few lines for people."""
    lines = [f"{job.source} → {', '.join(job.destinations)}", f"job {job.id}: {job.status}"]
    if job.digest:
        lines.append(f"digest {job.digest}")
    if job.error:
        lines.append(f"{job.error.type}: {job.error.detail}")
    return lines


def size(count: int) -> str:
    """Bytes for people: 176.0 MiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"  # pragma: no cover - the loop always returns


def plan_lines(plan: dict[str, Any]) -> list[str]:
    """A plan (POST /v1/plans' document) in a few lines for people."""
    lines = [f"{plan['source']} → {plan.get('digest') or 'not read yet'}"]
    lines += [
        f"refused by {v['rule']}: {v['detail']}" for v in plan["verdicts"] if not v["allowed"]
    ]
    if plan.get("error"):
        lines.append(f"would fail: {plan['error']['type']}: {plan['error']['detail']}")
    for dest in plan.get("destinations", []):
        blobs = dest["blobs"]
        lines.append(
            f"{dest['target']} ({dest['repository']}): {blobs['present']} blobs there, "
            f"{blobs['mountable']} to mount, {blobs['to_send']} to send "
            f"({size(blobs['bytes_to_send'])})"
        )
    if plan.get("removed"):
        lines.append(f"{len(plan['removed'])} manifest(s) left out (attestations, platforms)")
    return lines


def event_message(platform: str, event: str, job: Job) -> str:
    """The JSON body of an update about `job` posted to the command's response_url."""
    if event == QUEUED:
        lines = job_lines(job)
        planned = (job.chat or {}).get("planned_bytes")
        if planned is not None:
            lines.append(f"{size(int(planned))} to send (the plan's count)")
    else:
        lines = [summary(event, job), f"job {job.id}"]
        if event == "push.succeeded" and job.digest:
            lines.append(f"digest {job.digest}")
    body = message(platform, _HEADLINES.get(event, event), lines)
    return json.dumps(body, ensure_ascii=False)
