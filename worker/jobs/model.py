"""The job model: a push job's record, its status, and listing pages."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True for the end states."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


EMPTY_PROGRESS = {
    "blobs_total": 0,
    "blobs_done": 0,
    "blobs_skipped": 0,
    "blobs_mounted": 0,
    "bytes_total": 0,
    "bytes_done": 0,
}


def utcnow() -> str:
    """The current time as RFC 3339 UTC with milliseconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Job:
    """A push job as stored; holds no credential, ever."""

    id: str
    status: str
    source: str
    app_slug: str
    target: str
    tags: list[str]
    destinations: list[str]
    owner: str = ""
    attestations: str = "strip"
    platforms: list[str] = field(default_factory=list)
    deadline_seconds: float = 3600.0
    source_digest: str | None = None
    digest: str | None = None
    served: dict[str, str] = field(default_factory=dict)
    removed: list[dict[str, str]] = field(default_factory=list)
    progress: dict[str, int] = field(default_factory=lambda: dict(EMPTY_PROGRESS))
    error: dict[str, str] | None = None
    attempts: int = 0
    retries: int = 0
    cancel_requested: bool = False
    run_id: str | None = None
    request_hash: str = ""
    # {"url", "events", "secret_file"} when the caller asked for a callback; never shown whole.
    callback: dict[str, Any] | None = None
    created_at: str = field(default_factory=utcnow)
    started_at: str | None = None
    finished_at: str | None = None

    def to_record(self) -> dict[str, str]:
        """The hash fields stored in Redis: every value JSON-encoded."""
        return {k: json.dumps(v) for k, v in asdict(self).items()}

    @classmethod
    def from_record(cls, record: dict[str, str]) -> Job:
        """Rebuild a Job from its Redis hash (unknown fields from newer versions ignored)."""
        known = cls.__dataclass_fields__
        return cls(**{k: json.loads(v) for k, v in record.items() if k in known})

    @property
    def finished(self) -> bool:
        """True once the job has reached an end state."""
        return JobStatus(self.status).finished


@dataclass(frozen=True)
class JobPage:
    """One page of a job listing, newest first."""

    items: list[Job]
    next_cursor: str | None


def new_job_id() -> str:
    """A fresh, unguessable job id."""
    return uuid.uuid4().hex
