"""The job model: a push job's record, its status, error and progress, and listing pages."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from functools import cached_property
from typing import Any

from worker.errors import PushError
from worker.redaction import redact
from worker.reference import Reference, is_daemon_source, parse_daemon_source, parse_reference
from worker.registry.destination import CopyOptions, PushOptions
from worker.registry.progress import ProgressCounts as Progress
from worker.timestamps import format_time, parse_time, utcnow


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


@dataclass(frozen=True)
class JobError:
    """Why a job failed: the error type (auth, not_found, ...), a title and a redacted detail."""

    type: str
    title: str
    detail: str

    @classmethod
    def of(cls, error: PushError, title: str | None = None) -> JobError:
        """The record of a push error, with secrets redacted from its detail."""
        return cls(error.type, title or error.title, redact(error.detail))


@dataclass
class DestinationResult:
    """One target of a job: where it goes, what it serves after the push, its own error."""

    target: str
    registry: str
    repository: str
    references: list[str]
    status: str = "pending"  # pending, succeeded or failed
    digest: str | None = None
    error: JobError | None = None
    referrers: str = "copy"  # what it does with signatures and SBOMs: copy, skip or require
    layer_limit: int | None = None  # its target's layer_limit (bytes), when configured
    # What was attached to the image: carried here, skipped (referrers: skip), or left behind
    # with the source index digest the push changed (each: digest, kind, subject)
    carried: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    left_behind: list[dict[str, str]] = field(default_factory=list)

    @cached_property
    def parsed(self) -> list[Reference]:
        """The references, parsed once (the record keeps them as text)."""
        return [parse_reference(reference) for reference in self.references]

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> DestinationResult:
        """The result of its stored form."""
        data = dict(record)
        if data.get("error") is not None:
            data["error"] = JobError(**data["error"])
        return cls(**data)


@dataclass(frozen=True)
class JobPhase:
    """Where part of a job's time went (worker/registry/phases.py names them): its first
    start, the seconds from there to its last end, and its steps' seconds added up."""

    name: str
    start: dt.datetime
    seconds: float
    busy: float

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> JobPhase:
        """The phase of its stored form."""
        return cls(
            str(record["name"]),
            parse_time(str(record["start"])),
            float(record["seconds"]),
            float(record["busy"]),
        )


def encode_field(value: object) -> str:
    """A job field's value as stored in its Redis hash: JSON, timestamps as RFC 3339 text."""
    return _FIELD_ENCODER.encode(value)


def _plain(value: object) -> object:
    if isinstance(value, dt.datetime):
        return format_time(value)
    if isinstance(value, JobError | Progress | DestinationResult | JobPhase):
        return asdict(value)
    raise TypeError(f"cannot store a {type(value).__name__} in a job record")


# json.dumps(value, default=...) builds an encoder per call; a record has ~35 fields per write.
_FIELD_ENCODER = json.JSONEncoder(default=_plain)


# Fields whose stored name is not the attribute's. The image name is stored under `target`,
# the key every record written so far has and the API's field name, so a record stays
# readable by the workers and the API on either side of an upgrade or a rollback.
_STORED_AS = {"image": "target"}


@dataclass
class Job:
    """A push job as stored; holds no credential, ever."""

    id: str
    status: JobStatus
    source: str
    app_slug: str
    image: str  # the image's name under the app: TARGET in registry/APP_SLUG/TARGET:TAG
    tags: list[str]
    destinations: list[str]
    owner: str = ""
    targets: list[str] = field(default_factory=list)
    results: list[DestinationResult] = field(default_factory=list)
    # What the caller asked of the copy, passed to the engine as it is; stored flat, one
    # hash field per option (attestations, platforms, ...).
    options: PushOptions = field(default_factory=PushOptions)
    deadline_seconds: float = 3600.0
    source_digest: str | None = None
    digest: str | None = None
    served: dict[str, str] = field(default_factory=dict)
    removed: list[dict[str, str]] = field(default_factory=list)
    referrers: str | None = None  # the request's policy for every target (None: each target's)
    verified: list[dict[str, str]] = field(default_factory=list)  # digest, key, layout
    phases: list[JobPhase] = field(default_factory=list)  # of the last attempt
    progress: Progress = field(default_factory=Progress)
    error: JobError | None = None
    attempts: int = 0
    retries: int = 0
    cancel_requested: bool = False
    run_id: str | None = None
    request_hash: str = ""
    request_id: str = ""  # the API request that created it (X-Request-ID), for the logs
    # {"url", "events", "secret_file"} when the caller asked for a callback; never shown whole.
    callback: dict[str, Any] | None = None
    # {"url", "platform"} of a chat command's response_url: a capability, never shown.
    chat: dict[str, str] | None = None
    created_at: dt.datetime = field(default_factory=utcnow)
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def from_daemon(self) -> bool:
        """True when the source is an image of the worker's Docker daemon."""
        return is_daemon_source(self.source)

    @cached_property
    def source_reference(self) -> Reference:
        """The source, parsed once (the record keeps it as text): a registry's reference, or
        the daemon image's name and tag when `from_daemon`."""
        return (parse_daemon_source if self.from_daemon else parse_reference)(self.source)

    def copy_options(self, **process_side: Any) -> CopyOptions:
        """How the engine copies this job's image: the job's own options, plus what only the
        worker knows (`process_side`: signature verification, tag locks)."""
        return CopyOptions.for_push(self.options, **process_side)

    def to_record(self) -> dict[str, str]:
        """The hash fields stored in Redis: every value JSON-encoded, the options flat."""
        names = [f.name for f in fields(self) if f.name != "options"]
        record = {_STORED_AS.get(name, name): encode_field(getattr(self, name)) for name in names}
        record.update((name, encode_field(v)) for name, v in self.options.record().items())
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, str]) -> Job:
        """Rebuild a Job from its Redis hash (unknown fields from newer versions ignored)."""
        known = {f.name for f in fields(cls)} - {"options"}
        renamed = {_STORED_AS.get(name, name): name for name in known}
        renamed.update((f.name, f.name) for f in fields(PushOptions))
        stored: dict[str, Any] = {
            renamed[k]: json.loads(v) for k, v in record.items() if k in renamed
        }
        data = {k: v for k, v in stored.items() if k in known}
        data["options"] = PushOptions.of(stored)
        data["status"] = JobStatus(data["status"])
        if "progress" in data:
            data["progress"] = Progress.of(data["progress"])
        if data.get("error") is not None:
            data["error"] = JobError(**data["error"])
        data["results"] = [DestinationResult.of(r) for r in data.get("results") or []]
        data["phases"] = [JobPhase.of(p) for p in data.get("phases") or []]
        for name in ("created_at", "started_at", "finished_at"):
            if data.get(name) is not None:
                data[name] = parse_time(data[name])
        return cls(**data)


def job_of_reply(record: Sequence[str]) -> Job:
    """The job of a flat HGETALL reply (field, value, ...), as a Lua script returns it."""
    return Job.from_record(dict(zip(record[::2], record[1::2], strict=True)))


@dataclass(frozen=True)
class Claim:
    """A run's claim of a job: whether the run took it (the claim is truthy then), whether
    this claim started it (its first run), and the job as the claim left it."""

    taken: bool
    started: bool
    job: Job

    def __bool__(self) -> bool:
        """True when the run took the job."""
        return self.taken


@dataclass(frozen=True)
class JobPage:
    """One page of a job listing, newest first."""

    items: list[Job]
    next_cursor: str | None


def new_job_id() -> str:
    """A fresh, unguessable job id."""
    return uuid.uuid4().hex
