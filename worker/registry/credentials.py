"""Registry credentials: static ones, a Docker config.json's (auths, credHelpers, credsStore,
identity tokens), and the source interface the client asks for them at each use."""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from worker.errors import CredentialsUnreadable
from worker.redaction import register_secret
from worker.reference import DOCKER_HUB
from worker.registry.helpers import run_helper
from worker.settings import Secret

_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")
HUB_SERVER_URL = _HUB_KEYS[0]
IDENTITY_TOKEN_USER = "<token>"  # noqa: S105 - what helpers answer as Username for an identity token


@dataclass(frozen=True)
class Credentials:
    """A username and password (or token) for Basic auth or a token-server exchange.

    With `identity_token`, the password is an OAuth2 refresh token (docker's `identitytoken`),
    exchanged at the token realm with the refresh_token grant instead of sent as Basic."""

    username: str
    password: Secret
    identity_token: bool = False

    def basic(self) -> tuple[str, str]:
        """The (username, password) pair for an HTTP Basic header."""
        return self.username, self.password.reveal()


class CredentialSource(Protocol):
    """Where a registry client gets its credentials, at each use."""

    def current(self) -> Credentials | None:
        """The credentials to use now (None: anonymous)."""

    def renew(self, refused: Credentials | None) -> bool:
        """The registry refused `refused`: True when current() may now give other ones."""


class StaticCredentials:
    """Credentials that never change (a token, a password file, an inline config entry)."""

    def __init__(self, credentials: Credentials | None) -> None:
        self._credentials = credentials
        self._registered = False

    def current(self) -> Credentials | None:
        """The credentials, registered for redaction when first read."""
        creds = self._credentials
        if creds is not None and not self._registered:
            register_secret(creds.password.reveal(), creds.username)
            self._registered = True
        return creds

    def renew(self, refused: Credentials | None) -> bool:
        """Static credentials cannot be renewed."""
        return False


def as_source(credentials: Credentials | CredentialSource | None) -> CredentialSource:
    """A CredentialSource for plain credentials (or none); a source is returned as it is."""
    if credentials is None or isinstance(credentials, Credentials):
        return StaticCredentials(credentials)
    return credentials


class HelperCredentials:
    """Credentials from a docker credential helper, cached for `ttl` seconds; a refusal of the
    cached ones drops them, so the next use asks the helper again."""

    def __init__(self, helper: str, server_url: str, ttl: float) -> None:
        self.helper, self.server_url, self.ttl = helper, server_url, ttl
        self._lock = threading.Lock()
        self._cached: tuple[Credentials | None, float] | None = None

    def current(self) -> Credentials | None:
        """The cached credentials, or the helper's answer when there are none or they aged."""
        with self._lock:
            if self._cached is not None and self._cached[1] > time.monotonic():
                return self._cached[0]
            answer = run_helper(self.helper, self.server_url)
            credentials = None
            if answer is not None:
                username, secret = answer
                credentials = Credentials(username, Secret(secret), username == IDENTITY_TOKEN_USER)
            self._cached = (credentials, time.monotonic() + self.ttl)
            return credentials

    def renew(self, refused: Credentials | None) -> bool:
        """Forget the cached credentials if they are the refused ones; when another thread
        renewed them already, the current ones are new and worth a try as well."""
        with self._lock:
            if self._cached is not None and self._cached[0] == refused:
                self._cached = None
        return True


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


def helper_server_url(registry: str) -> str:
    """What docker sends a credential helper for `registry` (Docker Hub has its own URL)."""
    return HUB_SERVER_URL if registry == DOCKER_HUB else registry


def _read_config(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise CredentialsUnreadable(f"cannot read Docker config {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise CredentialsUnreadable(f"Docker config {path} is not valid JSON: {exc}") from None
    return document if isinstance(document, dict) else {}


def _section(document: dict[str, Any], name: str) -> dict[str, Any]:
    section = document.get(name)
    return section if isinstance(section, dict) else {}


def docker_config_source(
    config_dir: Path | None, registry: str, helper_ttl: float = 1800.0
) -> CredentialSource | None:
    """What docker would use for `registry` from `config_dir`/config.json: its credHelpers
    entry, else the credsStore helper, else the `auths` entry (auth, username/password or
    identitytoken); None when there is nothing for it."""
    if config_dir is None:
        return None
    path = config_dir / "config.json"
    if not path.exists():
        return None
    document = _read_config(path)
    helpers = _section(document, "credHelpers")
    for key in _config_keys(registry):
        if isinstance(helpers.get(key), str) and helpers[key]:
            return HelperCredentials(helpers[key], helper_server_url(registry), helper_ttl)
    store = document.get("credsStore")
    if isinstance(store, str) and store:
        return HelperCredentials(store, helper_server_url(registry), helper_ttl)
    credentials = _auths_entry(_section(document, "auths"), registry, path)
    return StaticCredentials(credentials) if credentials else None


def docker_config_realm_hosts(config_dir: Path | None, registry: str) -> frozenset[str]:
    """The `token_realm_hosts` of `registry`'s `auths` entry in config.json (a pushgate
    field docker ignores): hosts its token realm may be on besides the registry's."""
    path = config_dir / "config.json" if config_dir is not None else None
    if path is None or not path.exists():
        return frozenset()
    auths = _section(_read_config(path), "auths")
    for key in _config_keys(registry):
        entry = auths.get(key)
        if isinstance(entry, dict):
            hosts = entry.get("token_realm_hosts") or []
            return frozenset(h.lower() for h in hosts if isinstance(h, str))
    return frozenset()


def _auths_entry(auths: dict[str, Any], registry: str, path: Path) -> Credentials | None:
    for key in _config_keys(registry):
        entry = auths.get(key)
        if not entry or not isinstance(entry, dict):
            continue
        username, password = entry.get("username", ""), entry.get("password", "")
        if entry.get("auth"):
            try:
                username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise CredentialsUnreadable(f"malformed auth entry for {key} in {path}") from None
        identity = entry.get("identitytoken")
        if isinstance(identity, str) and identity:
            register_secret(identity)
            return Credentials(username or IDENTITY_TOKEN_USER, Secret(identity), True)
        if password:
            register_secret(password, username)
            return Credentials(username, Secret(password))
    return None


def docker_config_credentials(config_dir: Path | None, registry: str) -> Credentials | None:
    """Credentials for `registry` from `config_dir`/config.json (`auths` entries), if any."""
    if config_dir is None:
        return None
    path = config_dir / "config.json"
    if not path.exists():
        return None
    return _auths_entry(_section(_read_config(path), "auths"), registry, path)
