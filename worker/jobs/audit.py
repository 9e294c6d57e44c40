"""The audit trail in Redis: one stream of events for all apps and one per app slug, trimmed
to the retention period, read oldest first from a time or a cursor."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

from worker.jobs.connection import PREFIX, StoreConnection, guard

ALL_KEY = f"{PREFIX}:audit"


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
        return ALL_KEY if app_slug is None else f"{ALL_KEY}:slug:{app_slug}"

    def append(self, event: dict[str, Any]) -> None:
        """Store one event in the streams it belongs to, dropping events past retention."""
        cutoff = f"{int((time.time() - self.retention) * 1000)}-0"
        body = json.dumps(event, separators=(",", ":"))
        slug = event.get("app_slug")
        streams = [self.stream(None)] + ([self.stream(slug)] if isinstance(slug, str) else [])
        with guard(), self._redis.pipeline(transaction=True) as pipe:
            for stream in streams:
                pipe.xadd(stream, {"event": body}, minid=cutoff, approximate=True)
                pipe.expire(stream, self.retention)
            pipe.execute()

    def page(
        self, app_slug: str | None, since: dt.datetime | None, cursor: str | None, limit: int
    ) -> AuditPage:
        """Events of `app_slug` (None: all), oldest first, after `cursor` or from `since`."""
        if cursor:
            start = f"({cursor}"
        elif since is not None:
            start = f"{max(0, int(since.timestamp() * 1000))}-0"  # stream ids start at 0
        else:
            start = "-"
        with guard():
            entries: list[Any] = list(
                self._redis.xrange(self.stream(app_slug), start, "+", count=limit) or []
            )
        items = [
            {"id": str(entry_id), **json.loads(fields["event"])} for entry_id, fields in entries
        ]
        last = str(entries[-1][0]) if entries else None
        return AuditPage(items, last if len(entries) == limit else None)
