"""The job store: push jobs as Redis hashes with expiry, listing indexes, atomic transitions."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from worker.errors import JobConflict, JobNotFound, StoreUnavailable
from worker.jobs import scripts as job_scripts
from worker.jobs.model import Job, JobPage, JobStatus, utcnow

PREFIX = "pushgate"
RUNNING_KEY = f"{PREFIX}:running"  # job id -> last heartbeat (epoch seconds)
SUBMITTING_KEY = f"{PREFIX}:submitting"  # job id -> created, until its message is sent
UNCONFIRMED_GRACE = 60.0


class JobStore:
    """Push jobs in Redis: one hash per job, sorted sets to list them by time."""

    def __init__(self, client: redis.Redis, retention: float) -> None:
        self.redis = client
        self.retention = int(retention)
        self._transition = client.register_script(job_scripts.TRANSITION)
        self._claim = client.register_script(job_scripts.CLAIM)
        self._requeue = client.register_script(job_scripts.REQUEUE_STALE)

    @classmethod
    def from_url(cls, url: str, retention: float) -> JobStore:
        """A store on the Redis at `url`, with short timeouts so outages surface quickly."""
        client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=5,
            socket_connect_timeout=2,
            health_check_interval=10,
        )
        return cls(client, retention)

    @staticmethod
    def key(job_id: str) -> str:
        """The Redis key of a job's hash."""
        return f"{PREFIX}:job:{job_id}"

    @staticmethod
    def _index(app_slug: str | None) -> str:
        return f"{PREFIX}:jobs" if app_slug is None else f"{PREFIX}:jobs:slug:{app_slug}"

    @staticmethod
    def _member(job: Job) -> str:
        when = dt.datetime.fromisoformat(job.created_at.replace("Z", "+00:00"))
        return f"{int(when.timestamp() * 1000):013d}:{job.id}"

    def ping(self) -> None:
        """Raise StoreUnavailable unless Redis answers."""
        with self.unavailable():
            self.redis.ping()

    @contextmanager
    def unavailable(self) -> Iterator[None]:
        """Turn Redis connection failures into StoreUnavailable."""
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
            raise StoreUnavailable(f"the job store (Redis) is unreachable: {exc}") from None

    def create(self, job: Job) -> Job:
        """Store a new job and index it, all in one transaction."""
        member = self._member(job)
        cutoff = f"{int((time.time() - self.retention) * 1000):013d}:"
        with self.unavailable(), self.redis.pipeline(transaction=True) as pipe:
            record: dict[Any, Any] = job.to_record()
            pipe.hset(self.key(job.id), mapping=record)
            pipe.expire(self.key(job.id), self.retention)
            pipe.zadd(SUBMITTING_KEY, {job.id: time.time()})
            for index in (self._index(None), self._index(job.app_slug)):
                pipe.zadd(index, {member: 0})
                pipe.zremrangebylex(index, "-", f"({cutoff}")
                pipe.expire(index, self.retention)
            pipe.execute()
        return job

    def confirm(self, job_id: str) -> None:
        """Mark the job's message as sent: the reconciler no longer treats it as half-written."""
        with self.unavailable():
            self.redis.zrem(SUBMITTING_KEY, job_id)

    def delete(self, job: Job) -> None:
        """Remove a job and its index entries (used when it could not be enqueued)."""
        member = self._member(job)
        with self.unavailable(), self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.key(job.id))
            pipe.zrem(self._index(None), member)
            pipe.zrem(self._index(job.app_slug), member)
            pipe.zrem(SUBMITTING_KEY, job.id)
            pipe.execute()

    def unconfirmed(self, older_than: float) -> list[str]:
        """Ids of jobs whose message was never confirmed sent, created before `older_than`."""
        with self.unavailable():
            return [str(j) for j in self.redis.zrangebyscore(SUBMITTING_KEY, "-inf", older_than)]

    def claim(self, job_id: str, run_id: str, stale_before: float) -> bool:
        """Take the job for a run: it is queued, or running with a heartbeat older than
        `stale_before` (its worker died). Counts the attempt. False when it is not ours."""
        with self.unavailable():
            result = self._claim(
                keys=[self.key(job_id), RUNNING_KEY],
                args=[job_id, run_id, time.time(), stale_before, self.retention],
            )
        if result == -1:
            raise JobNotFound(f"no push job {job_id!r}")
        return bool(result == 1)

    def requeue_stale(self, stale_before: float) -> list[str]:
        """Put running jobs whose heartbeat stopped before `stale_before` back to queued."""
        with self.unavailable():
            stale = self.redis.zrangebyscore(RUNNING_KEY, "-inf", stale_before)
            return [
                str(job_id)
                for job_id in stale
                if self._requeue(
                    keys=[self.key(str(job_id)), RUNNING_KEY], args=[str(job_id), stale_before]
                )
                == 1
            ]

    def hand_back(self, job_id: str, run_id: str) -> bool:
        """Put the job this run holds back to queued at once (its worker is shutting down);
        the caller re-sends its message. False when the run no longer holds it."""
        args: list[str | int] = [json.dumps([str(JobStatus.RUNNING)]), json.dumps(run_id)]
        args += [self.retention, "status", json.dumps(str(JobStatus.QUEUED)), "run_id", "null"]
        with self.unavailable():
            result = self._transition(keys=[self.key(job_id)], args=args)
            self.redis.zrem(RUNNING_KEY, job_id)
        return bool(result == 1)

    def get(self, job_id: str) -> Job:
        """The job with this id; JobNotFound when it does not exist or has expired."""
        with self.unavailable():
            record = self.redis.hgetall(self.key(job_id))
        if not record:
            raise JobNotFound(f"no push job {job_id!r} (unknown, or expired after retention)")
        return Job.from_record({str(k): str(v) for k, v in record.items()})

    def update(self, job_id: str, **fields: Any) -> None:
        """Set fields of an existing job (no status check)."""
        with self.unavailable():
            if not self.redis.exists(self.key(job_id)):
                raise JobNotFound(f"no push job {job_id!r}")
            self.redis.hset(self.key(job_id), mapping={k: json.dumps(v) for k, v in fields.items()})

    def transition(
        self,
        job_id: str,
        allowed: Iterable[JobStatus],
        to: JobStatus,
        run_id: str | None = None,
        **fields: Any,
    ) -> bool:
        """Move the job to `to` (and set fields) only if its status is in `allowed` and,
        when `run_id` is given, the job still belongs to that run."""
        args: list[str | int] = [
            json.dumps([str(s) for s in allowed]),
            json.dumps(run_id) if run_id else "",
            self.retention,
            "status",
            json.dumps(str(to)),
        ]
        for name, value in fields.items():
            args += [name, json.dumps(value)]
        with self.unavailable():
            result = self._transition(keys=[self.key(job_id)], args=args)
        if result == -1:
            raise JobNotFound(f"no push job {job_id!r}")
        return bool(result == 1)

    def request_cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once, or flag a running one; JobConflict when finished."""
        if self.transition(
            job_id,
            [JobStatus.QUEUED],
            JobStatus.CANCELLED,
            cancel_requested=True,
            finished_at=utcnow(),
            error={
                "type": "cancelled",
                "title": "Cancelled",
                "detail": "cancelled before it started",
            },
        ):
            return self.get(job_id)
        if self.transition(job_id, [JobStatus.RUNNING], JobStatus.RUNNING, cancel_requested=True):
            return self.get(job_id)
        job = self.get(job_id)
        raise JobConflict(f"push job {job_id} has already finished as {job.status}")

    def list_jobs(
        self, app_slugs: list[str] | None, status: str | None, limit: int, cursor: str | None
    ) -> JobPage:
        """Jobs newest first, of `app_slugs` (None: all), optionally of one status."""
        indexes = [self._index(None)] if app_slugs is None else [self._index(s) for s in app_slugs]
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
                job_id = member.split(":", 1)[1]
                with self.unavailable():
                    record = self.redis.hgetall(self.key(job_id))
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
        with self.unavailable():
            for index in indexes:
                found = self.redis.zrevrangebylex(index, top, "-", start=0, num=count)
                merged.update(str(member) for member in found)
        return sorted(merged, reverse=True)[:count]
