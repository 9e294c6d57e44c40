"""The app's signature policy on the job side: which keys must have signed (the apps file's
`verify`, read once per process), and the audit event of each verification."""

from __future__ import annotations

import logging
from typing import Any

from worker.apps import AppPolicies
from worker.apps_file import load_apps
from worker.errors import StoreUnavailable, UnsignedImage
from worker.jobs.audit import AuditLog
from worker.jobs.model import Job
from worker.registry.cosign import VerifyPolicy
from worker.settings import Settings
from worker.targets_file import load_targets
from worker.timestamps import format_time, utcnow

log = logging.getLogger(__name__)


class SignatureChecks:
    """What each app's images must be signed with, and the audit trail of the checks."""

    def __init__(self, settings: Settings, audit: AuditLog | None) -> None:
        self.settings, self.audit = settings, audit
        self._apps: AppPolicies | None = None

    def policy(self, job: Job) -> VerifyPolicy | None:
        """The job's app's `verify` policy (None: its images need no signature)."""
        if self._apps is None:
            self._apps = load_apps(self.settings, load_targets(self.settings))
        return self._apps.verify_for(job.app_slug)

    def refuse_daemon(self, job: Job, policy: VerifyPolicy) -> UnsignedImage:
        """The error for a daemon source of an app whose images must be signed."""
        names = " or ".join(key.name for key in policy.keys)
        return UnsignedImage(
            f"app {job.app_slug} ships only images signed by {names}, and a docker-daemon: "
            "source carries no signatures: push the signed image from its registry"
        )

    def record(self, job: Job, verified: list[dict[str, str]], refused: str | None) -> None:
        """Add the verification's outcome to the audit trail (best effort, like the API's)."""
        event: dict[str, Any] = {
            "time": format_time(utcnow()),
            "action": "verify",
            "result": "refused" if refused else "verified",
            "reason": refused,
            "app_slug": job.app_slug,
            "source": job.source,
            "destinations": job.destinations,
            "job_id": job.id,
            "request_id": job.request_id,
            "verified": verified,
        }
        log.info("audit verify %s %s", event["result"], job.id)
        if self.audit is None:
            return
        try:
            self.audit.append(event)
        except StoreUnavailable as exc:
            log.warning("audit event not stored: %s", exc)
