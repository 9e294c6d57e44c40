"""Listing indexes of the job store: one sorted set of all jobs and one per app slug, ordered
by creation time, paged newest first."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from worker.jobs import keys
from worker.jobs.connection import StoreConnection, guard
from worker.jobs.model import Job, JobPage


class JobListing:
    """The time-ordered indexes of jobs (members are `<created ms, 13 digits>:<job id>`)."""

    def __init__(self, connection: StoreConnection, job_key: Callable[[str], str]) -> None:
        self._redis = connection.client
        self._job_key = job_key

    @staticmethod
    def index(app_slug: str | None) -> str:
        """The Redis key of the index of all jobs (None) or of one app's."""
        return keys.job_index(app_slug)

    @staticmethod
    def member(job: Job) -> str:
        """The job's member in the indexes."""
        return f"{int(job.created_at.timestamp() * 1000):013d}:{job.id}"

    def add(self, pipe: Any, job: Job, retention: int) -> None:
        """Queue, on `pipe`, indexing `job` and dropping entries older than `retention`."""
        cutoff = f"{int((time.time() - retention) * 1000):013d}:"
        for index in (self.index(None), self.index(job.app_slug)):
            pipe.zadd(index, {self.member(job): 0})
            pipe.zremrangebylex(index, "-", f"({cutoff}")
            pipe.expire(index, retention)

    def remove(self, pipe: Any, job: Job) -> None:
        """Queue, on `pipe`, removing `job` from the indexes."""
        for index in (self.index(None), self.index(job.app_slug)):
            pipe.zrem(index, self.member(job))

    def page(
        self, app_slugs: list[str] | None, status: str | None, limit: int, cursor: str | None
    ) -> JobPage:
        """Jobs newest first, of `app_slugs` (None: all), optionally of one status."""
        indexes = [self.index(None)] if app_slugs is None else [self.index(s) for s in app_slugs]
        items: list[Job] = []
        position = cursor
        scanned = 0
        while len(items) < limit and scanned < 20 * limit + 200:
            members = self._merged_page(indexes, position, limit)
            if not members:
                position = None
                break
            for member in members:
                position = member
                scanned += 1
                with guard():
                    record = self._redis.hgetall(self._job_key(member.split(":", 1)[1]))
                if record:
                    job = Job.from_record({str(k): str(v) for k, v in record.items()})
                    if status is None or job.status == status:
                        items.append(job)
                        if len(items) == limit:
                            break
        more = position is not None and bool(self._merged_page(indexes, position, 1))
        return JobPage(items, position if more else None)

    def _merged_page(self, indexes: list[str], cursor: str | None, count: int) -> list[str]:
        top = f"({cursor}" if cursor else "+"
        merged: set[str] = set()
        with guard():
            for index in indexes:
                found = self._redis.zrevrangebylex(index, top, "-", start=0, num=count)
                merged.update(str(member) for member in found)
        return sorted(merged, reverse=True)[:count]
