"""The audit trail in Redis: one stream of events for all apps and one per app slug, trimmed
to the retention period and a length, read oldest first from a time or a cursor; and one
short stream of failed authentications, which callers without a key can add to at no cost
to anyone (no per-slug data, every field cut)."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

from worker.jobs.connection import StoreConnection, guard
from worker.jobs.keys import AUTH_FAILURES_KEY, audit_stream

STREAM_MAXLEN = 100_000  # events kept per stream at most, whatever their age
AUTH_FAILURES_MAXLEN = 500
FIELD_LIMIT = 128  # characters kept of each text field of a failed authentication


@dataclass(frozen=True)
class AuditPage:
    """Events oldest first, and the cursor of the next page (None at the end for now)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class AuditLog:
    """Audit events as Redis streams; the stream entry id is the cursor."""

    def __init__(self, connection: StoreConnection, retention: int) -> None:
        self._redis = connection.client
        self.retention = retention

    @staticmethod
    def stream(app_slug: str | None) -> str:
        """The stream of every event (None) or of one app's."""
        return audit_stream(app_slug)

    def append(self, event: dict[str, Any]) -> None:
        """Store one event in the streams it belongs to, dropping events past retention."""
        cutoff = f"{int((time.time() - self.retention) * 1000)}-0"
        body = json.dumps(event, separators=(",", ":"))
        slug = event.get("app_slug")
        streams = [self.stream(None)] + ([self.stream(slug)] if isinstance(slug, str) else [])
        with guard(), self._redis.pipeline(transaction=True) as pipe:
            for stream in streams:
                pipe.xadd(stream, {"event": body}, minid=cutoff, approximate=True)
                pipe.xtrim(stream, maxlen=STREAM_MAXLEN, approximate=True)
                pipe.expire(stream, self.retention)
            pipe.execute()

    def append_failed_authentication(self, event: dict[str, Any]) -> None:
        """Store an event of a request without a valid key: in one stream of the last
        AUTH_FAILURES_MAXLEN, with each text field cut to FIELD_LIMIT characters."""
        body = json.dumps(cut_fields(event), separators=(",", ":"))
        with guard(), self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                AUTH_FAILURES_KEY, {"event": body}, maxlen=AUTH_FAILURES_MAXLEN, approximate=True
            )
            pipe.expire(AUTH_FAILURES_KEY, self.retention)
            pipe.execute()

    def page(
        self,
        app_slug: str | None,
        since: dt.datetime | None,
        cursor: str | None,
        limit: int,
        failed_authentications: bool = False,
    ) -> AuditPage:
        """Events of `app_slug` (None: all), or the failed authentications, oldest first,
        after `cursor` or from `since`."""
        stream = AUTH_FAILURES_KEY if failed_authentications else self.stream(app_slug)
        if cursor:
            start = f"({cursor}"
        elif since is not None:
            start = f"{max(0, int(since.timestamp() * 1000))}-0"  # stream ids start at 0
        else:
            start = "-"
        with guard():
            entries: list[Any] = list(self._redis.xrange(stream, start, "+", count=limit) or [])
        items = [
            _current({"id": str(entry_id), **json.loads(fields["event"])})
            for entry_id, fields in entries
        ]
        last = str(entries[-1][0]) if entries else None
        return AuditPage(items, last if len(entries) == limit else None)


def _current(event: dict[str, Any]) -> dict[str, Any]:
    """An event in today's names: one stored before the rename kept its `destinations` (the
    references written) under `targets`, a word now kept for configured targets."""
    if "targets" in event and "destinations" not in event:
        event["destinations"] = event.pop("targets")
    return event


def cut_fields(event: dict[str, Any]) -> dict[str, Any]:
    """`event` with every text (and text in a list) cut to FIELD_LIMIT characters."""
    cut: dict[str, Any] = {}
    for name, value in event.items():
        if isinstance(value, str):
            value = value[:FIELD_LIMIT]
        elif isinstance(value, list):
            value = [v[:FIELD_LIMIT] if isinstance(v, str) else v for v in value[:8]]
        cut[name] = value
    return cut
