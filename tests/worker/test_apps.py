"""Per-app policies: patterns, and the verdicts of a request."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.apps import (
    RULE_APP,
    RULE_DAEMON_IMAGES,
    RULE_SOURCES,
    RULE_TARGETS,
    Access,
    AppPolicies,
    AppPolicy,
    first_refusal,
    matches,
)
from worker.reference import parse_daemon_source, parse_reference


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("ghcr.io/acme/myapp-*", "ghcr.io/acme/myapp-api", True),
        ("ghcr.io/acme/myapp-*", "ghcr.io/acme/myapp-api/sub", False),
        ("ghcr.io/acme/myapp-*", "ghcr.io/acme/other", False),
        ("GHCR.io/acme/*", "ghcr.io/acme/x", True),
        ("ghcr.io/ACME/*", "ghcr.io/acme/x", False),
        ("127.0.0.1:5000/src/**", "127.0.0.1:5000/src/a", True),
        ("127.0.0.1:5000/src/**", "127.0.0.1:5000/src/a/b/c", True),
        ("127.0.0.1:5000/src/**", "127.0.0.1:5000/srcx/a", False),
        ("127.0.0.1:5000/src/**", "127.0.0.1:5001/src/a", False),
        ("*/acme/x", "ghcr.io/acme/x", True),
        ("ghcr.io/{app_slug}/**", "ghcr.io/team-a/x", True),
        ("ghcr.io/{app_slug}/**", "ghcr.io/team-b/x", False),
        ("ghcr.io/acme/x.y", "ghcr.io/acme/xzy", False),  # a dot is a dot
    ],
)
def test_patterns(pattern: str, name: str, expected: bool) -> None:
    assert matches(pattern, name, "team-a") is expected


POLICIES = AppPolicies(
    Path("/etc/pushgate/apps.yaml"),
    {
        "team-a": AppPolicy(
            "team-a",
            sources=("127.0.0.1:5000/team-a/**",),
            daemon_images=("team-a/*",),
            targets={"ecr": None, "replicated": None},
        ),
        "*": AppPolicy("*", sources=("ghcr.io/{app_slug}/*",), targets={"replicated": None}),
    },
)


def _access(app: str, source: str, *targets: str) -> Access:
    daemon = source.startswith("docker-daemon:")
    parsed = parse_daemon_source(source) if daemon else parse_reference(source)
    return Access(app, parsed, daemon, targets)


def test_every_rule_gives_a_verdict() -> None:
    verdicts = POLICIES.evaluate(_access("team-a", "127.0.0.1:5000/team-a/x:1", "ecr", "hub"))
    assert [(v.rule, v.allowed) for v in verdicts] == [
        (RULE_APP, True),
        (RULE_SOURCES, True),
        (RULE_TARGETS, True),
        (RULE_TARGETS, False),
    ]
    refusal = first_refusal(verdicts)
    assert refusal is not None
    assert "target hub" in refusal.reason and "/etc/pushgate/apps.yaml" in refusal.reason


def test_another_apps_source_is_refused() -> None:
    refusal = first_refusal(POLICIES.evaluate(_access("team-a", "127.0.0.1:5000/team-b/x:1")))
    assert refusal is not None and refusal.rule == RULE_SOURCES
    assert "127.0.0.1:5000/team-b/x" in refusal.reason


def test_daemon_images_by_short_or_full_name() -> None:
    assert first_refusal(POLICIES.evaluate(_access("team-a", "docker-daemon:team-a/api:1"))) is None
    refusal = first_refusal(POLICIES.evaluate(_access("team-a", "docker-daemon:team-b/api:1")))
    assert refusal is not None and refusal.rule == RULE_DAEMON_IMAGES
    # The `*` entry lists no daemon images: none.
    refusal = first_refusal(POLICIES.evaluate(_access("other", "docker-daemon:other/api:1")))
    assert refusal is not None and "lists none" in refusal.reason


def test_the_defaults_entry_serves_apps_without_one() -> None:
    assert first_refusal(POLICIES.evaluate(_access("b", "ghcr.io/b/x:1", "replicated"))) is None
    refusal = first_refusal(POLICIES.evaluate(_access("b", "ghcr.io/a/x:1", "replicated")))
    assert refusal is not None and "by the `*` entry" in refusal.reason


def test_without_a_defaults_entry_an_unknown_app_is_refused() -> None:
    policies = AppPolicies(Path("apps.yaml"), {"a": AppPolicy("a")})
    refusal = first_refusal(policies.evaluate(_access("b", "ghcr.io/b/x:1")))
    assert refusal is not None and refusal.rule == RULE_APP


def test_without_a_file_everything_is_allowed() -> None:
    verdicts = AppPolicies().evaluate(_access("b", "ghcr.io/a/x:1", "anything"))
    assert first_refusal(verdicts) is None
    assert "PUSHGATE_APPS_FILE is not set" in verdicts[0].reason
