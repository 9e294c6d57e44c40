"""Follow a job to its end through the long-poll, showing it as it goes."""

from __future__ import annotations

import time
from typing import Any

from cli.client import ApiClient
from cli.errors import Exit
from cli.progress import Reporter

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
    poll: float,
    status_only: bool,
) -> dict[str, Any]:
    """The job once it ends. Each request long-polls up to `poll` seconds (at most 30); with
    `status_only` only a status change ends one early. Raises WaitTimedOut at `timeout`."""
    deadline = None if timeout is None else time.monotonic() + timeout
    reporter.update(job)
    while not finished(job):
        wait = min(poll, MAX_WAIT)
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
            params={
                "wait": f"{max(wait, 0.1):.1f}",
                "wake_on": "status" if status_only else "change",
            },
            headers=headers,
            timeout=wait + READ_MARGIN,
        )
        if response.status_code == 200:
            job, etag = response.json(), response.headers.get("ETag")
        reporter.update(job)
    return job
