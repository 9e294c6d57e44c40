"""Registry credentials: the target's from settings, the sources' from a Docker config.json."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path

from worker.errors import CredentialsUnreadable
from worker.redaction import register_secret
from worker.reference import DOCKER_HUB
from worker.settings import Secret

_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class Credentials:
    """A username and password (or token) for Basic auth or a token-server exchange."""

    username: str
    password: Secret

    def basic(self) -> tuple[str, str]:
        """The (username, password) pair for an HTTP Basic header."""
        return self.username, self.password.reveal()


def target_credentials(username: str, token: Secret | None) -> Credentials | None:
    """Credentials for the vendor registry, registered for redaction."""
    if token is None:
        return None
    register_secret(token.reveal(), username)
    return Credentials(username, token)


def _config_keys(registry: str) -> list[str]:
    if registry == DOCKER_HUB:
        return list(_HUB_KEYS)
    return [registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/"]


def docker_config_credentials(config_dir: Path | None, registry: str) -> Credentials | None:
    """Credentials for `registry` from `config_dir`/config.json (`auths` entries), if any."""
    if config_dir is None:
        return None
    path = config_dir / "config.json"
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise CredentialsUnreadable(f"cannot read Docker config {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise CredentialsUnreadable(f"Docker config {path} is not valid JSON: {exc}") from None
    auths = document.get("auths") if isinstance(document, dict) else None
    if not isinstance(auths, dict):
        auths = {}
    for key in _config_keys(registry):
        entry = auths.get(key)
        if not entry:
            continue
        if entry.get("auth"):
            try:
                username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise CredentialsUnreadable(f"malformed auth entry for {key} in {path}") from None
        else:
            username, password = entry.get("username", ""), entry.get("password", "")
        if password:
            register_secret(password, username)
            return Credentials(username, Secret(password))
    return None
