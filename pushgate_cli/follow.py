"""Follow a job to its end through the long-poll, showing it as it goes."""

from __future__ import annotations

import time
from typing import Any

from pushgate_cli.client import ApiClient
from pushgate_cli.errors import Exit
from pushgate_cli.progress import Reporter

OUTCOMES = {"succeeded": Exit.SUCCEEDED, "failed": Exit.FAILED, "cancelled": Exit.CANCELLED}
MAX_WAIT = 30.0
READ_MARGIN = 30.0  # seconds beyond the long-poll before the read times out


class WaitTimedOut(Exception):
    """The command's --timeout ran out while the job went on."""

    def __init__(self, job: dict[str, Any]) -> None:
        super().__init__(job.get("id"))
        self.job = job


def finished(job: dict[str, Any]) -> bool:
    """True once the job reached an end state."""
    return job.get("status") in OUTCOMES


def follow(
    client: ApiClient,
    job: dict[str, Any],
    etag: str | None,
    reporter: Reporter,
    *,
    timeout: float | None,
    refresh: float,
) -> dict[str, Any]:
    """The job once it ends; raises WaitTimedOut at `timeout`.

    Each request long-polls for a change of status, so the end is seen at once; a running
    job's progress is fetched every `refresh` seconds, a queued one is left for 30.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    reporter.update(job)
    while not finished(job):
        wait = min(refresh, MAX_WAIT) if job.get("status") == "running" else MAX_WAIT
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimedOut(job)
            wait = min(wait, remaining)
        headers = {"If-None-Match": etag} if etag else {}
        response = client.request(
            "GET",
            f"/v1/pushes/{job['id']}",
            ok=(200, 304),
            params={"wait": f"{max(wait, 0.1):.1f}", "wake_on": "status"},
            headers=headers,
            timeout=wait + READ_MARGIN,
        )
        if response.status_code == 200:
            job, etag = response.json(), response.headers.get("ETag")
        reporter.update(job)
    return job
