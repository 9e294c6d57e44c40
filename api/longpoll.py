"""Job ETags and the long-poll wait: hold a GET until the job changes or the time is up."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from werkzeug.datastructures import ETags

from api.schemas import JobSchema
from worker.facade import ChangeFeed, Job

MAX_WAIT = 30.0
_SCHEMA = JobSchema()


def job_etag(job: Job) -> str:
    """The job's entity tag (unquoted): its status, then a hash of everything the API shows.

    The status prefix lets a `wake_on=status` wait know the status a client last saw.
    """
    return shown(job)[1]


def shown(job: Job) -> tuple[dict[str, Any], str]:
    """The job as the API shows it (JobSchema's dump) and its entity tag, from one dump."""
    dump: dict[str, Any] = _SCHEMA.dump(job)
    body = json.dumps(dump, sort_keys=True, separators=(",", ":"))
    return dump, f"{job.status}-{hashlib.sha256(body.encode()).hexdigest()[:24]}"


def _status_of(etag: str) -> str:
    return etag.split("-", 1)[0]


def wait_for_change(
    feed: ChangeFeed,
    job_id: str,
    load: Callable[[], Job],
    wait: float,
    known: ETags,
    status_only: bool,
) -> Job:
    """The job once it differs from what the client knows (`known`, or else the job as it is
    now), once it has finished, or when `wait` seconds are up, whichever comes first.

    With `status_only`, a change of progress alone does not end the wait.
    """
    deadline = time.monotonic() + min(wait, MAX_WAIT)
    with feed.watch(job_id) as changed:
        job = load()
        given = {tag for tag in known.as_set() if tag} if not known.star_tag else set()
        tags = given or {job_etag(job)}  # an empty entry ("") names no version
        statuses = {_status_of(tag) for tag in tags}

        def differs(current: Job) -> bool:
            if status_only:
                return current.status not in statuses
            return job_etag(current) not in tags

        while not job.status.finished and not differs(job):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            changed.wait(remaining)
            changed.clear()  # cleared before the read: a later change sets it again
            job = load()
    return job
