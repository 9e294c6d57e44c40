"""The test credential helper (tests/support/bin/docker-credential-pgtest): its state file, the
environment that puts it on PATH, and a token-server account that accepts only its newest secret."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.demo_stack.token_server import Account

BIN = Path(__file__).resolve().parent / "bin"
HELPER = "pgtest"
USERNAME = "keychain-user"


class HelperState:
    """The helper's state file: every secret it handed out, and what it was asked for."""

    def __init__(self, path: Path, servers: list[str] | None = None) -> None:
        self.path = path
        state: dict[str, Any] = {"username": USERNAME, "secrets": [], "asked": []}
        if servers is not None:
            state["servers"] = servers
        path.write_text(json.dumps(state))

    def read(self) -> dict[str, Any]:
        """The current state."""
        return dict(json.loads(self.path.read_text()))

    @property
    def secrets(self) -> list[str]:
        """Every secret handed out so far, oldest first."""
        return list(self.read()["secrets"])

    @property
    def calls(self) -> int:
        """How many times the helper answered `get`."""
        return len(self.secrets)

    def fail_with(self, message: str | None) -> None:
        """Make the helper fail with `message` (None: answer again)."""
        state = self.read()
        state["fail"] = message
        self.path.write_text(json.dumps(state))

    def env(self) -> dict[str, str]:
        """PATH with the helper first, and the state file it uses."""
        return {"PATH": f"{BIN}:{os.environ['PATH']}", "PGTEST_HELPER_STATE": str(self.path)}

    def get(self, server: str) -> dict[str, str]:
        """Ask the helper as docker would (this rotates the secret)."""
        answer = subprocess.run(
            [str(BIN / f"docker-credential-{HELPER}"), "get"],
            input=server,
            capture_output=True,
            text=True,
            env={**os.environ, **self.env()},
            check=True,
        )
        return dict(json.loads(answer.stdout))


@dataclass
class HelperAccount(Account):
    """Accepts only the helper's newest secret, and counts the logins it refused."""

    state: HelperState | None = None
    refused: int = 0

    def accepts(self, username: str, password: str) -> bool:
        """True for the helper's username with its newest secret."""
        assert self.state is not None
        handed_out = self.state.secrets
        ok = bool(handed_out) and secrets.compare_digest(password, handed_out[-1])
        if not ok and username == USERNAME:
            self.refused += 1
        return ok and username == USERNAME
