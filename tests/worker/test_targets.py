"""The targets file: what it accepts, each app's default, and errors naming file, entry, field."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from worker.errors import ConfigurationError, InvalidRequest
from worker.jobs.planning import VENDOR_LAYER_LIMIT, layer_limit
from worker.jobs.submit import PushRequest, plan_job
from worker.reference import destination
from worker.registry.credentials import HelperCredentials, StaticCredentials
from worker.settings import Secret, Settings
from worker.targets import BUILTIN
from worker.targets_file import load_targets

FULL = """
- name: ecr-prod
  registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
  repository: "acme/{target}"
  credential_helper: ecr-login
  apps: [myapp]
- name: ghcr
  registry: ghcr.io
  repository: "acme-corp/{app_slug}-{target}"
  username: acme-bot
  token_file: secrets/ghcr-token
- name: harbor
  registry: harbor.acme.example:8443
  repository: "library/{target}"
  username: robot$pushgate
  password_file: /run/secrets/harbor
  apps: ["*"]
- name: hub
  registry: docker.io
  repository: "acme/{target}"
  docker_config: true
- name: local
  registry: 127.0.0.1:5000
  insecure: true
"""


def _settings(tmp_path: Path, text: str | None) -> Settings:
    path = None
    if text is not None:
        path = tmp_path / "targets.yaml"
        path.write_text(text)
    return Settings(
        registry="registry.replicated.com", registry_token=Secret("t0ken"), targets_file=path
    )


def test_without_a_file_there_is_the_builtin_target_only(tmp_path: Path) -> None:
    targets = load_targets(_settings(tmp_path, None))
    assert targets.names == [BUILTIN]
    replicated = targets.default_for("anyapp")
    assert replicated.reference("myapp", "worker", "1.0") == destination(
        "registry.replicated.com", "myapp", "worker", "1.0"
    )


def test_a_full_file(tmp_path: Path) -> None:
    settings = _settings(tmp_path, FULL)
    targets = load_targets(settings)
    assert targets.names == [BUILTIN, "ecr-prod", "ghcr", "harbor", "hub", "local"]
    assert targets.default_for("myapp").name == "ecr-prod"
    assert targets.default_for("other").name == "harbor"  # the "*" one
    ghcr = targets.targets["ghcr"]
    assert str(ghcr.reference("myapp", "worker", "2")) == "ghcr.io/acme-corp/myapp-worker:2"
    assert ghcr.password == Secret.from_file(tmp_path / "secrets/ghcr-token", "x")
    assert isinstance(ghcr.credentials(settings), StaticCredentials)
    helper = targets.targets["ecr-prod"].credentials(settings)
    assert isinstance(helper, HelperCredentials) and helper.helper == "ecr-login"
    assert (
        targets.targets["local"].insecure and targets.targets["local"].credentials(settings) is None
    )
    assert targets.targets["hub"].registry == "docker.io"
    chosen = targets.resolve(["ghcr", BUILTIN, "ghcr"], "myapp")
    assert [t.name for t in chosen] == ["ghcr", BUILTIN]


def test_unknown_target_names_the_field(tmp_path: Path) -> None:
    targets = load_targets(_settings(tmp_path, FULL))
    with pytest.raises(InvalidRequest) as caught:
        targets.resolve(["ghcr", "nope"], "myapp")
    assert caught.value.field == "targets" and "nope" in caught.value.message


def test_plan_job_has_one_result_per_target(tmp_path: Path) -> None:
    settings = dataclasses.replace(
        _settings(tmp_path, FULL), source_registries=frozenset({"ghcr.io"})
    )
    request = PushRequest(
        source="ghcr.io/acme/worker:1.0", app_slug="myapp", targets=["replicated", "ghcr"]
    )
    job = plan_job(request, settings, owner="t", targets=load_targets(settings))
    assert job.targets == ["replicated", "ghcr"]
    assert job.destinations == [
        "registry.replicated.com/myapp/worker:1.0",
        "ghcr.io/acme-corp/myapp-worker:1.0",
    ]
    assert [(r.target, r.repository, r.status) for r in job.results] == [
        ("replicated", "myapp/worker", "pending"),
        ("ghcr", "acme-corp/myapp-worker", "pending"),
    ]
    assert type(job).from_record(job.to_record()) == job
    # Without targets (or referrers), the fingerprint is the one from before they existed.
    without = PushRequest(source="ghcr.io/acme/worker:1.0", app_slug="myapp")
    newer = ("targets", "referrers")
    flat = {**dataclasses.asdict(without), **without.options.record()}  # as the body was sent
    old_body = {
        ("target" if k == "image" else k): v  # the image name's field before the rename
        for k, v in flat.items()
        if k not in (*newer, "options")
    }
    old = hashlib.sha256(json.dumps(old_body, sort_keys=True).encode()).hexdigest()
    assert without.fingerprint() == old != request.fingerprint()


def test_referrers_policy_per_target_and_per_push(tmp_path: Path) -> None:
    text = FULL + "- {name: strict, registry: s.example, referrers: require}\n"
    settings = dataclasses.replace(
        _settings(tmp_path, text), source_registries=frozenset({"ghcr.io"})
    )
    targets = load_targets(settings)
    asked = ["replicated", "ghcr", "strict"]
    request = PushRequest(source="ghcr.io/acme/worker:1.0", app_slug="myapp", targets=asked)
    job = plan_job(request, settings, owner="t", targets=targets)
    assert [r.referrers for r in job.results] == ["skip", "copy", "require"]
    assert job.referrers is None
    override = dataclasses.replace(request, referrers="copy")
    job = plan_job(override, settings, owner="t", targets=targets)
    assert [r.referrers for r in job.results] == ["copy", "copy", "copy"]
    assert type(job).from_record(job.to_record()) == job
    assert override.fingerprint() != request.fingerprint()
    with pytest.raises(InvalidRequest) as caught:
        plan_job(dataclasses.replace(request, referrers="all"), settings, owner="t")
    assert caught.value.field == "referrers"


def test_a_layer_limit_per_target_goes_with_the_job(tmp_path: Path) -> None:
    text = FULL + "- {name: small, registry: s.example, layer_limit: 1000000}\n"
    settings = dataclasses.replace(
        _settings(tmp_path, text), source_registries=frozenset({"ghcr.io"})
    )
    request = PushRequest(
        source="ghcr.io/acme/worker:1.0", app_slug="myapp", targets=["replicated", "ghcr", "small"]
    )
    job = plan_job(request, settings, owner="t", targets=load_targets(settings))
    assert [r.layer_limit for r in job.results] == [None, None, 1_000_000]
    limits = [layer_limit(r) for r in job.results]
    assert limits[0] == VENDOR_LAYER_LIMIT and limits[1] is None
    assert limits[2] is not None and limits[2].size == 1_000_000
    assert "target small" in limits[2].why and "layer_limit" in limits[2].why
    assert type(job).from_record(job.to_record()) == job


@pytest.mark.parametrize(
    ("text", "entry", "field", "words"),
    [
        ("- name: Bad_Name\n  registry: r.example", "#1", "name", "invalid app slug"),
        ("- name: a\n  registry: nodots", "#1 (a)", "registry", "host"),
        (
            "- name: a\n  registry: r.example\n  repository: '{app}/{target}'",
            "#1",
            "repository",
            "app",
        ),
        (
            "- name: a\n  registry: r.example\n  repository: 'Acme/{target}'",
            "#1",
            "repository",
            "OCI",
        ),
        (
            "- name: a\n  registry: r.example\n  password: hunter22",
            "#1",
            "password",
            "secrets never",
        ),
        (
            "- name: a\n  registry: r.example\n  credential_helper: ecr-login\n"
            "  docker_config: true",
            "#1",
            "credentials",
            "exactly one",
        ),
        ("- name: a\n  registry: r.example\n  username: u", "#1", "username", "password_file"),
        ("- name: a\n  registry: r.example\n  token_file: /t", "#1", "username", "required"),
        (
            "- name: a\n  registry: r.example\n  credential_helper: ../x",
            "#1",
            "credential_helper",
            "NAME",
        ),
        (
            "- name: a\n  registry: r.example\n  insecure: yes please",
            "#1",
            "insecure",
            "true or false",
        ),
        ("- name: a\n  registry: r.example\n  colour: blue", "#1", "colour", "unknown"),
        (
            "- name: a\n  registry: r.example\n  referrers: always",
            "#1",
            "referrers",
            "copy, skip, require",
        ),
        (
            "- name: a\n  registry: r.example\n  layer_limit: 1.9GB",
            "#1",
            "layer_limit",
            "whole number of bytes",
        ),
        ("- {name: a, registry: r.example, layer_limit: 0}", "#1", "layer_limit", "1 or more"),
        ("- registry: r.example", "#1", "name", "required"),
        (
            "- {name: a, registry: a.example, apps: ['*']}\n"
            "- {name: b, registry: b.example, apps: ['*']}",
            "b",
            "apps",
            "once",
        ),
        (
            "- {name: a, registry: a.example}\n"
            "- {name: b, registry: a.example, docker_config: true}",
            "b",
            "registry",
            "share one login",
        ),
        (
            "- {name: a, registry: a.example}\n- {name: a, registry: b.example}",
            "a",
            "name",
            "twice",
        ),
    ],
)
def test_bad_entries_name_file_entry_and_field(
    tmp_path: Path, text: str, entry: str, field: str, words: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_targets(_settings(tmp_path, text))
    message = str(caught.value)
    assert str(tmp_path / "targets.yaml") in message
    assert f"target {entry}" in message or f"target #{entry}" in message
    assert f"field `{field}`" in message and words in message
    assert "hunter22" not in message


@pytest.mark.parametrize(
    ("text", "words"), [("name: a", "expected a list"), ("- [a", "not valid YAML")]
)
def test_bad_documents(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        load_targets(_settings(tmp_path, text))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    settings = dataclasses.replace(_settings(tmp_path, None), targets_file=tmp_path / "nope.yaml")
    with pytest.raises(ConfigurationError, match=r"nope\.yaml"):
        load_targets(settings)
