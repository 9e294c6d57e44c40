"""Timestamps as pushgate writes them everywhere (Redis, the API, webhooks, JSON log lines):
RFC 3339 in UTC, to the millisecond, with a Z."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time in UTC, to the millisecond (as stored)."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def format_time(when: dt.datetime | float) -> str:
    """RFC 3339 UTC with milliseconds and a Z, of a datetime or of epoch seconds."""
    if not isinstance(when, dt.datetime):
        when = dt.datetime.fromtimestamp(when, dt.UTC)
    return when.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> dt.datetime:
    """The datetime of a stored RFC 3339 timestamp."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
