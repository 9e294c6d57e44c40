"""Callers' API keys: a file of sha256 hashes, each allowed a list of app slugs, with optional
limits (`rate`, `max_active`), the right to read the audit trail (`audit: true`), and a file
holding the `whsec_` secret that signs the key's job callbacks."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from worker.errors import ConfigurationError
from worker.facade import read_secret

log = logging.getLogger("pushgate.api")


@dataclass(frozen=True)
class ApiKey:
    """One caller: a name, the hash of its key, the app slugs it may push to, and the targets
    it may push to (None: every target)."""

    name: str
    key_sha256: str
    app_slugs: frozenset[str]
    targets: frozenset[str] | None = None
    webhook_secret_file: Path | None = None
    rate: int | None = None  # pushes per minute; None: the settings' default
    max_active: int | None = None  # queued + running jobs; None: the settings' default
    audit: bool = False  # may read GET /v1/audit

    @property
    def all_slugs(self) -> bool:
        """True when this key may push to every slug (`["*"]`)."""
        return "*" in self.app_slugs

    def allows(self, app_slug: str) -> bool:
        """True when this key may push to (and read jobs of) `app_slug`."""
        return self.all_slugs or app_slug in self.app_slugs

    def forbidden_targets(self, targets: list[str]) -> list[str]:
        """Those of `targets` this key may not push to."""
        if self.targets is None:
            return []
        return [name for name in targets if name not in self.targets]


def parse_keys(data: Any, source: str) -> list[ApiKey]:
    """Validate the decoded key file content into ApiKeys."""
    if not isinstance(data, list):
        raise ConfigurationError(f"{source}: expected a list of API keys")
    keys = []
    for i, entry in enumerate(data):
        try:
            digest = str(entry["key_sha256"]).lower()
            slugs = entry["app_slugs"]
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError("key_sha256 must be 64 hex digits")
            if not isinstance(slugs, list) or not all(isinstance(s, str) for s in slugs):
                raise ValueError("app_slugs must be a list of strings")
            targets = entry.get("targets")
            if targets is not None and (
                not isinstance(targets, list) or not all(isinstance(t, str) for t in targets)
            ):
                raise ValueError("targets must be a list of target names")
            allowed = None if targets is None else frozenset(targets)
            secret_file = entry.get("webhook_secret_file")
            if secret_file is not None:
                if not isinstance(secret_file, str) or not secret_file:
                    raise ValueError("webhook_secret_file must be a path")
                try:
                    read_secret(Path(secret_file))  # checked now, read again when signing
                except ConfigurationError as exc:
                    raise ValueError(f"webhook_secret_file: {exc}") from None
            keys.append(
                ApiKey(
                    str(entry["name"]),
                    digest,
                    frozenset(slugs),
                    allowed,
                    Path(secret_file) if secret_file else None,
                    _limit(entry, "rate"),
                    _limit(entry, "max_active"),
                    _flag(entry, "audit"),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"{source}: API key #{i + 1} is malformed: {exc}") from None
    names = [key.name for key in keys]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigurationError(
            f"{source}: API key name(s) {', '.join(twice)} used twice: audit events and logs "
            "name keys, so each name must be one key's"
        )
    return keys


def _limit(entry: dict[str, Any], name: str) -> int | None:
    value = entry.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1")
    return value


def _flag(entry: dict[str, Any], name: str) -> bool:
    value = entry.get(name, False)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


# The file's content is read again at least this often even when its stat looks unchanged (an
# edit of the same size within one timestamp tick).
RECHECK_SECONDS = 1.0


class KeyRing:
    """The API keys of a file, reloaded when its content changes (an edit within the same
    mtime tick, or a file swapped in with an old mtime, counts too). The file is read again
    only when its stat changes or once a second: not on every request."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._digest: str | None = None
        self._keys: list[ApiKey] = []
        self._lock = threading.Lock()
        self._stat: tuple[int, int, int, int, int] | None = None
        self._read_at = 0.0
        self._reload_if_changed()

    def _reload_if_changed(self) -> None:
        if self.path is None:
            return
        try:
            info = os.stat(self.path)
        except OSError as exc:
            raise ConfigurationError(f"cannot read API keys file {self.path}: {exc}") from None
        # ctime moves on every write and every utime, so a file restored with an old mtime shows
        stat = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        now = time.monotonic()
        if stat == self._stat and now - self._read_at < RECHECK_SECONDS:
            return
        self._stat, self._read_at = stat, now
        try:
            text = self.path.read_text()
        except OSError as exc:
            raise ConfigurationError(f"cannot read API keys file {self.path}: {exc}") from None
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest == self._digest:
            return
        try:
            data = json.loads(text) if self.path.suffix == ".json" else yaml.safe_load(text)
            keys = parse_keys(data or [], str(self.path))
        except (ValueError, yaml.YAMLError, ConfigurationError) as exc:
            if self._digest is None:  # at start: the process does not start
                raise ConfigurationError(f"API keys file {self.path}: {exc}") from None
            log.error("API keys file %s not reloaded, the keys before stay: %s", self.path, exc)
            keys = self._keys
        with self._lock:
            self._keys, self._digest = keys, digest

    def lookup(self, presented: str) -> ApiKey | None:
        """The key whose hash matches `presented`, or None."""
        self._reload_if_changed()
        digest = hashlib.sha256(presented.encode()).hexdigest()
        with self._lock:
            keys = list(self._keys)
        found = None
        for key in keys:
            if hmac.compare_digest(key.key_sha256, digest):
                found = key
        return found

    def named(self, name: str) -> ApiKey | None:
        """The key called `name` (a chat grant's), or None."""
        self._reload_if_changed()
        with self._lock:
            return next((key for key in self._keys if key.name == name), None)
