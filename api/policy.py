"""Who may do what: the verdicts of the caller's key and of the apps file on a planned job, and
the 403 of the first refusal (naming the rule and the file that holds it)."""

from __future__ import annotations

from pathlib import Path

from api.keys import ApiKey
from api.problems import ApiProblem
from worker.facade import AppPolicies, Job, Verdict, first_refusal, job_verdicts

RULE_KEY_APPS = "key.app_slugs"
RULE_KEY_TARGETS = "key.targets"


def key_verdicts(key: ApiKey, job: Job) -> list[Verdict]:
    """The key's verdicts on `job`: its app, then each target it would write."""
    allowed = key.allows(job.app_slug)
    verdicts = [
        Verdict(RULE_KEY_APPS, allowed, f"{_may(key, allowed)} push to or read app {job.app_slug}")
    ]
    for name in job.targets:
        allowed = not key.forbidden_targets([name])
        verdicts.append(
            Verdict(RULE_KEY_TARGETS, allowed, f"{_may(key, allowed)} push to target {name}")
        )
    return verdicts


def _may(key: ApiKey, allowed: bool) -> str:
    return f"API key {key.name} " + ("may" if allowed else "may not")


def verdicts(key: ApiKey, policies: AppPolicies, job: Job) -> list[Verdict]:
    """Every verdict on `job`: the key's, then the apps file's. Allowed when all allow."""
    return [*key_verdicts(key, job), *job_verdicts(policies, job)]


def enforce(key: ApiKey, policies: AppPolicies, job: Job, keys_file: Path | None) -> None:
    """Raise the 403 of the first refusing verdict on `job`, naming its rule and file."""
    refusal = first_refusal(verdicts(key, policies, job))
    if refusal is None:
        return
    from_key = refusal.rule.startswith("key.")
    where = keys_file if from_key else policies.path
    raise ApiProblem(
        403,
        "forbidden",
        "Forbidden",
        refusal.reason,
        rule=refusal.rule,
        file=str(where) if where else None,
    )
