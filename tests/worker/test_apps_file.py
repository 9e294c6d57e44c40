"""The apps file: what it accepts, the shared-target rule, and errors naming file, entry, field."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support.signing import SigningKey
from worker.apps_file import check_policies, load_apps
from worker.errors import ConfigurationError
from worker.jobs.submit import PushRequest, plan_job
from worker.registry.cosign import Cover
from worker.settings import Secret, Settings
from worker.targets_file import load_targets

TARGETS = """
- name: ecr
  registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
  repository: "acme/{target}"
  credential_helper: ecr-login
- name: ghcr
  registry: ghcr.io
  repository: "acme/{app_slug}/{target}"
  docker_config: true
"""

APPS = """
- app: team-a
  sources: ["ghcr.io/acme/team-a/**"]
  daemon_images: ["team-a/*"]
  targets: [{name: ecr, repository: "team-a/{target}"}, ghcr]
  default_targets: [ecr, ghcr]
- app: team-b
  sources: ["ghcr.io/acme/team-b/**"]
  targets: [{name: ecr, repository: "team-b/{target}"}, replicated]
- app: "*"
  targets: [ghcr]
"""


def _settings(tmp_path: Path, apps: str | None, targets: str = TARGETS) -> Settings:
    (tmp_path / "targets.yaml").write_text(targets)
    path = None
    if apps is not None:
        path = tmp_path / "apps.yaml"
        path.write_text(apps)
    return Settings(
        registry="registry.replicated.com",
        registry_token=Secret("t0ken"),
        targets_file=tmp_path / "targets.yaml",
        apps_file=path,
        source_registries=frozenset({"ghcr.io"}),
    )


def test_a_file_is_read_whole(tmp_path: Path) -> None:
    settings = _settings(tmp_path, APPS)
    policies = load_apps(settings, load_targets(settings))
    assert policies.path == tmp_path / "apps.yaml"
    assert policies.default_targets("team-a") == ["ecr", "ghcr"]
    assert policies.default_targets("team-b") == []
    assert policies.repository_for("team-b", "ecr") == "team-b/{target}"
    assert policies.repository_for("someone", "ghcr") is None
    assert policies.policy_for("someone") == policies.apps["*"]


def test_two_apps_pushing_one_name_to_a_shared_target_get_their_own_repositories(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, APPS)
    targets = load_targets(settings)
    policies = load_apps(settings, targets)
    repositories = set()
    for app in ("team-a", "team-b"):
        request = PushRequest(
            source=f"ghcr.io/acme/{app}/worker:1.0", app_slug=app, targets=["ecr"]
        )
        job = plan_job(request, settings, owner="t", targets=targets, apps=policies)
        repositories.add(job.results[0].repository)
    assert repositories == {"team-a/worker", "team-b/worker"}


def test_default_targets_are_used_when_a_request_names_none(tmp_path: Path) -> None:
    settings = _settings(tmp_path, APPS)
    targets = load_targets(settings)
    policies = load_apps(settings, targets)
    request = PushRequest(source="ghcr.io/acme/team-a/worker:1.0", app_slug="team-a")
    job = plan_job(request, settings, owner="t", targets=targets, apps=policies)
    assert job.targets == ["ecr", "ghcr"]
    assert [r.repository for r in job.results] == ["team-a/worker", "acme/team-a/worker"]


@pytest.mark.parametrize(
    ("apps", "message"),
    [
        (
            "- {app: a, targets: [ecr]}\n- {app: b, targets: [ecr]}\n",
            "target ecr is shared by a and b but its repository 'acme/{target}' has no {app_slug}",
        ),
        ("- {app: '*', targets: [ecr]}\n", 'target ecr is shared by "*" (every app without'),
        (
            "- {app: a, targets: [{name: ecr, repository: 'x/{target}'}]}\n"
            "- {app: b, targets: [{name: ecr, repository: 'x/{target}'}]}\n",
            "target ecr is shared by a and b",
        ),
        ("- {app: a, targets: [nope]}\n", "app #1 (a): field `targets`: unknown target 'nope'"),
        ("- {app: a, targets: [ghcr], default_targets: [ecr]}\n", "field `default_targets`"),
        ("- {app: a, source: [x]}\n", "app #1 (a): field `source`: unknown"),
        ("- {app: Bad}\n", "app #1 (Bad): field `app`"),
        ("- {app: a}\n- {app: a}\n", "app a: field `app`: used twice"),
        ("- {app: a, sources: 'ghcr.io/**'}\n", "field `sources`: must be a list"),
        ("- {app: a, targets: [{name: ecr, repository: 'X/{bad}'}]}\n", "field `targets`"),
        ("app: a\n", "expected a list of apps"),
        ("- {app: a, verify: {keys: []}}\n", "field `verify`: `keys` must be a non-empty"),
        ("- {app: a, verify: {keys: [none.pub]}}\n", "cannot read key file"),
        ("- {app: a, verify: {keys: [apps.yaml]}}\n", "apps.yaml is not a PEM public key"),
        ("- {app: a, verify: {keys: [k.pub], cover: all}}\n", "`cover` must be index, children"),
        ("- {app: a, verify: {key: k.pub}}\n", "field `verify`: must be {keys"),
    ],
)
def test_a_bad_file_is_a_start_up_error(tmp_path: Path, apps: str, message: str) -> None:
    SigningKey.make(tmp_path, "k.pub")
    settings = _settings(tmp_path, apps)
    with pytest.raises(ConfigurationError) as caught:
        load_apps(settings, load_targets(settings))
    assert message in str(caught.value)
    assert str(tmp_path / "apps.yaml") in str(caught.value)


def test_verify_keys_are_read_relative_to_the_file(tmp_path: Path) -> None:
    SigningKey.make(tmp_path / "keys", "release.pub", "ed25519")
    apps = "- {app: a, targets: [ghcr], verify: {keys: [keys/release.pub], cover: index}}\n"
    settings = _settings(tmp_path, apps)
    policy = load_apps(settings, load_targets(settings)).verify_for("a")
    assert policy is not None and policy.cover is Cover.INDEX
    assert [key.name for key in policy.keys] == ["keys/release.pub"]
    assert load_apps(settings, load_targets(settings)).verify_for("b") is None


def test_start_up_warns_once_without_an_apps_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pushgate.apps"):
        check_policies(_settings(tmp_path, None))
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "PUSHGATE_APPS_FILE is not set" in warnings[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pushgate.apps"):
        check_policies(_settings(tmp_path, APPS))
    assert caplog.records == []


def test_the_targets_files_apps_still_work_with_a_deprecation_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    legacy = TARGETS.replace("docker_config: true", "docker_config: true\n  apps: [team-b]")
    settings = _settings(tmp_path, APPS, legacy)
    with caplog.at_level(logging.WARNING, logger="pushgate.apps"):
        targets, policies = check_policies(settings)
    assert any("`apps` (on ghcr) is deprecated" in r.getMessage() for r in caplog.records)
    request = PushRequest(source="ghcr.io/acme/team-b/worker:1.0", app_slug="team-b")
    job = plan_job(request, settings, owner="t", targets=targets, apps=policies)
    assert job.targets == ["ghcr"]
