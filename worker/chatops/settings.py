"""The chat-ops part of Settings: signing secret, Mattermost token, grants file, the hosts a
command's response_url may name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from worker.secret import Secret

DEFAULT_RESPONSE_HOSTS = frozenset({"hooks.slack.com"})


class _Reader(Protocol):
    def secret(self, name: str) -> Secret | None: ...
    def path(self, name: str) -> Path | None: ...
    def names(self, name: str) -> frozenset[str]: ...


@dataclass(frozen=True)
class ChatSettings:
    """PUSHGATE_SLACK_SIGNING_SECRET(_FILE), PUSHGATE_MATTERMOST_TOKEN(_FILE),
    PUSHGATE_CHATOPS_FILE and PUSHGATE_CHATOPS_RESPONSE_HOSTS."""

    slack_signing_secret: Secret | None = field(default=None, repr=False)
    mattermost_token: Secret | None = field(default=None, repr=False)
    grants_file: Path | None = None
    response_hosts: frozenset[str] = DEFAULT_RESPONSE_HOSTS

    @classmethod
    def read(cls, env: _Reader) -> ChatSettings:
        """The chat settings from Settings' environment reader."""
        return cls(
            slack_signing_secret=env.secret("SLACK_SIGNING_SECRET"),
            mattermost_token=env.secret("MATTERMOST_TOKEN"),
            grants_file=env.path("CHATOPS_FILE"),
            response_hosts=env.names("CHATOPS_RESPONSE_HOSTS") or DEFAULT_RESPONSE_HOSTS,
        )
