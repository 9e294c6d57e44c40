"""A job's phases: the clock its copy records into, and the phases stored on the job."""

from __future__ import annotations

import datetime as dt

from worker.jobs.model import Job, JobPhase
from worker.registry.phases import ORDER, QUEUED, PhaseClock, current_phases

__all__ = ["PHASES", "current_phases", "job_clock", "job_phases"]
PHASES = tuple(ORDER)  # every phase a job may record


def job_clock(job: Job) -> PhaseClock:
    """A clock for this attempt of `job`; a first attempt starts with the time it was queued."""
    clock = PhaseClock()
    if job.attempts == 1 and job.started_at is not None:
        clock.add(QUEUED, job.created_at.timestamp(), job.started_at.timestamp())
    return clock


def job_phases(clock: PhaseClock) -> list[JobPhase]:
    """The clock's phases as stored on the job (milliseconds)."""
    return [
        JobPhase(
            span.name,
            dt.datetime.fromtimestamp(round(span.start, 3), dt.UTC),
            round(span.seconds, 3),
            round(span.busy, 3),
        )
        for span in clock.spans()
    ]
