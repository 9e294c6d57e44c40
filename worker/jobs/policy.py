"""Whether a planned job is within its app's policy: the verdicts of the apps file on what the
job would read and write, asked before anything is read."""

from __future__ import annotations

from worker.apps import Access, AppPolicies, Verdict
from worker.jobs.model import Job


def access_of(job: Job) -> Access:
    """What `job` would do, in the terms policies speak."""
    return Access(job.app_slug, job.source_reference, job.from_daemon, tuple(job.targets))


def job_verdicts(policies: AppPolicies, job: Job) -> list[Verdict]:
    """Every verdict of the apps file on `job` (see AppPolicies.evaluate)."""
    return policies.evaluate(access_of(job))
