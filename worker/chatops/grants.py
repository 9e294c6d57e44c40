"""PUSHGATE_CHATOPS_FILE: which chat team, channel and user may act with which API key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from worker.errors import ConfigurationError

PLATFORMS = ("slack", "mattermost")
_FIELDS = {"key", *PLATFORMS}
_SCOPE_FIELDS = {"team", "channels", "users"}


@dataclass(frozen=True)
class Scope:
    """Where a grant holds on one platform; None or empty: any."""

    team: str | None
    channels: frozenset[str]
    users: frozenset[str]

    def covers(self, team: str, channel: str, user: str) -> bool:
        """True when a command from `user` in `channel` of `team` falls in this scope."""
        return (
            (self.team is None or self.team == team)
            and (not self.channels or channel in self.channels)
            and (not self.users or user in self.users)
        )


@dataclass(frozen=True)
class Grant:
    """One entry: the API key whose rights matching commands have, per platform where."""

    key: str
    scopes: dict[str, Scope]

    def covers(self, platform: str, team: str, channel: str, user: str) -> bool:
        """True when this grant holds for the command (a platform it omits: never)."""
        scope = self.scopes.get(platform)
        return scope is not None and scope.covers(team, channel, user)


def first_grant(
    grants: list[Grant], platform: str, team: str, channel: str, user: str
) -> Grant | None:
    """The first grant that holds for the command, or None (the user is not mapped)."""
    return next((g for g in grants if g.covers(platform, team, channel, user)), None)


def _ids(scope: dict[str, Any], name: str) -> frozenset[str]:
    value = scope.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"`{name}` must be a list of ids")
    return frozenset(value)


def _scope(value: Any, platform: str) -> Scope:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ValueError(f"`{platform}` must be a mapping of team, channels, users")
    if unknown := sorted(set(value) - _SCOPE_FIELDS):
        raise ValueError(f"`{platform}`: unknown field `{unknown[0]}`")
    team = value.get("team")
    if team is not None and (not isinstance(team, str) or not team):
        raise ValueError(f"`{platform}.team` must be a team id")
    return Scope(team, _ids(value, "channels"), _ids(value, "users"))


def parse_grant(entry: Any) -> Grant:
    """One entry of the file; ValueError naming the field that is wrong."""
    if not isinstance(entry, dict):
        raise ValueError("must be a mapping with key, slack, mattermost")
    if unknown := sorted(set(entry) - _FIELDS):
        raise ValueError(f"unknown field `{unknown[0]}`")
    key = entry.get("key")
    if not isinstance(key, str) or not key:
        raise ValueError("`key` (an API key's name) is required")
    scopes = {p: _scope(entry[p], p) for p in PLATFORMS if p in entry}
    if not scopes:
        raise ValueError("name at least one of `slack`, `mattermost`")
    return Grant(key, scopes)


def load_grants(path: Path | None) -> list[Grant]:
    """The grants in `path` (YAML or JSON list); none when unset. A bad file is a
    ConfigurationError naming the file, the entry and the field."""
    if path is None:
        return []
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read PUSHGATE_CHATOPS_FILE {path}: {exc.strerror}"
        ) from None
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"chat-ops file {path} does not parse: {exc}") from None
    if not isinstance(data or [], list):
        raise ConfigurationError(f"chat-ops file {path}: expected a list of grants")
    grants = []
    for i, entry in enumerate(data or []):
        try:
            grants.append(parse_grant(entry))
        except ValueError as exc:
            raise ConfigurationError(f"chat-ops file {path}, grant #{i + 1}: {exc}") from None
    return grants
