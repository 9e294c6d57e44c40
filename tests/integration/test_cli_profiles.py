"""The `pushgate` command with a profile file instead of PUSHGATE_URL and PUSHGATE_API_KEY."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import cli_env, run_cli
from tests.support.images import ImageBuilder
from tests.support.pushgate import API_KEY, Service
from tests.support.services import Registry

KiB = 1024


def profile_env(service: Service, tmp_path: Path) -> dict[str, str]:
    """No URL or key in the environment: profile `ci` (the service) and `broken` (nothing
    listens) in $XDG_CONFIG_HOME/pushgate/config.toml, the key in a file beside it."""
    folder = tmp_path / "pushgate"
    folder.mkdir()
    (folder / "ci.key").write_text(API_KEY + "\n")
    (folder / "config.toml").write_text(
        f'[profiles.ci]\nurl = "{service.url}"\napi_key_file = "ci.key"\n'
        '[profiles.broken]\nurl = "http://127.0.0.1:9"\napi_key_file = "ci.key"\n'
    )
    env = cli_env("", "", XDG_CONFIG_HOME=str(tmp_path), PUSHGATE_CLI_RETRY_FOR="0")
    del env["PUSHGATE_URL"], env["PUSHGATE_API_KEY"]
    return env


def test_push_with_a_profile_named_by_option_or_environment(
    service: Service,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
    tmp_path: Path,
) -> None:
    source_images.image(f"acme/{unique}", "1", [8 * KiB])
    env = profile_env(service, tmp_path)
    source = f"{source_registry.host}/acme/{unique}:1"
    pushed = run_cli(["push", source, "--app", "myapp", "--profile", "ci", "--output=json"], env)
    assert pushed.returncode == 0, pushed.stderr
    job = json.loads(pushed.stdout)
    assert job["status"] == "succeeded"
    shown = run_cli(["status", job["id"], "--output=json"], {**env, "PUSHGATE_PROFILE": "ci"})
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == job["id"]


def test_the_environment_wins_over_the_profile(service: Service, tmp_path: Path) -> None:
    env = {**profile_env(service, tmp_path), "PUSHGATE_PROFILE": "broken"}
    listed = run_cli(["list", "--limit=1"], {**env, "PUSHGATE_URL": service.url})
    assert listed.returncode == 0, listed.stderr
    refused = run_cli(["list"], {**env, "PUSHGATE_PROFILE": "ci", "PUSHGATE_API_KEY": "wrong"})
    assert refused.returncode == 4, refused.stderr


def test_an_unknown_profile_exits_2_naming_the_known_ones(service: Service, tmp_path: Path) -> None:
    result = run_cli(["list", "--profile", "prod"], profile_env(service, tmp_path))
    assert result.returncode == 2
    assert "no profile 'prod'" in result.stderr and "(profiles: broken, ci)" in result.stderr
