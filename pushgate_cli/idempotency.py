"""Idempotency keys derived from the CI run: retries reuse the job, a re-run makes a new one."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

# The variables that name one attempt of one CI job; a re-run changes at least one of them.
GITHUB_RUN = ("GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB")
GITLAB_RUN = ("CI_PROJECT_ID", "CI_PIPELINE_ID", "CI_JOB_ID")


def ci_run(env: Mapping[str, str]) -> dict[str, str] | None:
    """The CI run this process belongs to (GitHub Actions or GitLab CI), or None."""
    if env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_RUN_ID"):
        return {"ci": "github", **{name: env.get(name, "") for name in GITHUB_RUN}}
    if env.get("GITLAB_CI") == "true" and env.get("CI_JOB_ID"):
        return {"ci": "gitlab", **{name: env.get(name, "") for name in GITLAB_RUN}}
    return None


def derive_key(env: Mapping[str, str], body: Mapping[str, Any]) -> str:
    """A key from the CI run and the request body; outside CI, one fresh key per invocation
    (so the command's own retries still never create a second push)."""
    run = ci_run(env)
    if run is None:
        return f"pushgate-cli-{uuid.uuid4().hex}"
    material = json.dumps({"run": run, "body": body}, sort_keys=True, separators=(",", ":"))
    return f"pushgate-{run['ci']}-{hashlib.sha256(material.encode()).hexdigest()[:40]}"
