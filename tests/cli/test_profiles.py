"""Profiles in config.toml: which URL and key the command uses, and what the file may hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushgate_cli.errors import CliError, Exit
from pushgate_cli.profiles import config_path, connection

CONFIG = """
default_profile = "prod"

[profiles.prod]
url = "https://pushgate.example"
api_key_file = "prod.key"

[profiles.staging]
url = "https://pushgate-staging.example"
api_key_file = "/elsewhere/staging.key"
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XDG_CONFIG_HOME in tmp_path, with a config file and the prod key beside it."""
    for name in ("PUSHGATE_URL", "PUSHGATE_API_KEY", "PUSHGATE_CONFIG", "PUSHGATE_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    folder = tmp_path / "pushgate"
    folder.mkdir()
    (folder / "config.toml").write_text(CONFIG)
    (folder / "prod.key").write_text("prod-key-1\n")
    return folder


def test_the_config_file_lives_under_xdg_config_home(home: Path) -> None:
    assert config_path({"XDG_CONFIG_HOME": str(home.parent)}) == home / "config.toml"
    assert config_path({"HOME": "/x"}) == Path.home() / ".config" / "pushgate" / "config.toml"


def test_the_default_profile_gives_url_and_key_from_its_key_file(home: Path) -> None:
    assert connection(None, None, None) == ("https://pushgate.example", "prod-key-1")


def test_a_named_profile_is_used(home: Path, tmp_path: Path) -> None:
    key = tmp_path / "staging.key"
    key.write_text("staging-key-2")
    (home / "config.toml").write_text(CONFIG.replace("/elsewhere/staging.key", str(key)))
    assert connection(None, None, "staging") == (
        "https://pushgate-staging.example",
        "staging-key-2",
    )


def test_environment_and_options_win_over_the_profile(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUSHGATE_API_KEY", "env-key-3")
    assert connection(None, None, None) == ("https://pushgate.example", "env-key-3")
    explicit = tmp_path / "explicit.key"
    explicit.write_text("file-key-4")
    assert connection("http://other:8000", explicit, "prod") == ("http://other:8000", "file-key-4")


def test_a_key_in_the_file_is_refused_and_not_repeated(home: Path) -> None:
    (home / "config.toml").write_text('[profiles.default]\nurl = "u"\napi_key = "s3cr3t-key"\n')
    with pytest.raises(CliError) as raised:
        connection(None, None, None)
    assert raised.value.code is Exit.INVALID
    assert "api_key_file" in raised.value.message
    assert "s3cr3t-key" not in raised.value.message


@pytest.mark.parametrize(
    ("config", "profile", "message"),
    [
        (CONFIG, "qa", "no profile 'qa' in"),
        ('[profiles.default]\nurl = "u"\ncolour = "red"\n', None, "unknown fields colour"),
        ("[profiles\n", None, "is not valid TOML"),
        ('default_profile = "gone"\n[profiles.a]\nurl = "u"\n', None, "(profiles: a)"),
    ],
)
def test_a_wrong_file_or_name_is_an_error_that_says_what(
    home: Path, config: str, profile: str | None, message: str
) -> None:
    (home / "config.toml").write_text(config)
    with pytest.raises(CliError) as raised:
        connection(None, None, profile)
    assert raised.value.code is Exit.INVALID
    assert message in raised.value.message


def test_without_file_or_environment_the_url_is_asked_for(home: Path) -> None:
    (home / "config.toml").unlink()
    with pytest.raises(CliError, match="no service URL: set PUSHGATE_URL"):
        connection(None, None, None)
    with pytest.raises(CliError, match="does not exist"):
        connection(None, None, "prod")
