"""Profiles: the service URL and the API key file per name, in ~/.config/pushgate/config.toml.

The file names a key *file*, never a key, as with --api-key-file. Explicit options and the
environment win over the profile: --url/PUSHGATE_URL, --api-key-file/PUSHGATE_API_KEY_FILE
and PUSHGATE_API_KEY each replace what the profile says.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pushgate_cli.config import read_api_key
from pushgate_cli.errors import CliError, Exit

FIELDS = {"url", "api_key_file"}
KEY_FIELDS = {"api_key", "key", "token"}  # refused: the key itself belongs in a file


@dataclass(frozen=True)
class Profile:
    """One profile of the config file."""

    name: str
    url: str | None
    api_key_file: Path | None


def config_path(env: Mapping[str, str]) -> Path:
    """$PUSHGATE_CONFIG, else $XDG_CONFIG_HOME/pushgate/config.toml (~/.config by default)."""
    if env.get("PUSHGATE_CONFIG"):
        return Path(env["PUSHGATE_CONFIG"]).expanduser()
    base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config").expanduser()
    return base / "pushgate" / "config.toml"


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        raise CliError(Exit.INVALID, f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CliError(Exit.INVALID, f"{path} is not valid TOML: {exc}") from None


def _profile(path: Path, name: str, table: Any) -> Profile:
    where = f"{path}, profile {name!r}"
    if not isinstance(table, dict):
        raise CliError(Exit.INVALID, f"{where}: must be a table of url and api_key_file")
    if KEY_FIELDS & set(table):
        raise CliError(
            Exit.INVALID,
            f"{where}: holds an API key; put the key in a file of its own (readable by you "
            "only) and name that file with api_key_file",
        )
    unknown = set(table) - FIELDS
    if unknown:
        raise CliError(Exit.INVALID, f"{where}: unknown fields {', '.join(sorted(unknown))}")
    for field in FIELDS & set(table):
        if not isinstance(table[field], str) or not table[field]:
            raise CliError(Exit.INVALID, f"{where}: {field} must be a non-empty string")
    key_file = table.get("api_key_file")
    # A relative key file is relative to the config file's folder, not to the current one.
    key_path = (path.parent / Path(key_file).expanduser()) if key_file else None
    return Profile(name, table.get("url"), key_path)


def load_profile(name: str | None, env: Mapping[str, str]) -> Profile | None:
    """The profile `name` (else the file's default_profile, else "default"); None when no
    profile was asked for and there is none to fall back on."""
    path = config_path(env)
    if not path.exists():
        if name:
            raise CliError(Exit.INVALID, f"no profile {name!r}: {path} does not exist")
        return None
    document = _read(path)
    profiles = document.get("profiles", {})
    if not isinstance(profiles, dict):
        raise CliError(Exit.INVALID, f"{path}: [profiles] must be a table of profiles")
    chosen = name or document.get("default_profile") or "default"
    if chosen not in profiles:
        if name or "default_profile" in document:
            known = ", ".join(sorted(profiles)) or "none"
            raise CliError(Exit.INVALID, f"no profile {chosen!r} in {path} (profiles: {known})")
        return None
    return _profile(path, str(chosen), profiles[chosen])


def connection(
    url: str | None, api_key_file: Path | None, profile_name: str | None
) -> tuple[str, str]:
    """The service URL and the API key: options and environment first, then the profile."""
    env = os.environ
    profile = load_profile(profile_name, env)
    url = url or (profile.url if profile else None)
    if not url:
        raise CliError(
            Exit.INVALID, "no service URL: set PUSHGATE_URL, pass --url, or use a profile"
        )
    if api_key_file is None and not env.get("PUSHGATE_API_KEY", "").strip() and profile:
        api_key_file = profile.api_key_file
    return url, read_api_key(api_key_file)
