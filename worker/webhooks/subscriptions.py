"""Who hears about a job: standing subscriptions from PUSHGATE_WEBHOOKS_FILE, signing secrets."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from worker.errors import ConfigurationError, InvalidRequest
from worker.redaction import register_secret
from worker.settings import Secret
from worker.webhooks.guard import CallbackRefused, HostPolicy, Resolve, resolve_host

STARTED = "push.started"
END_EVENTS = ("push.succeeded", "push.failed", "push.cancelled")
EVENTS = (STARTED, *END_EVENTS)
FORMATS = ("standard", "slack")
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of the secrets, not one
_FIELDS = {"name", "url", "secret_file", "apps", "events", "format"}


@dataclass(frozen=True)
class Subscription:
    """A standing subscription: events of some apps posted to one URL."""

    name: str
    url: str
    secret_file: Path | None
    apps: frozenset[str]
    events: frozenset[str]
    format: str = "standard"

    def wants(self, event: str, app_slug: str) -> bool:
        """True when this subscription asked for `event` of app `app_slug`."""
        return event in self.events and ("*" in self.apps or app_slug in self.apps)


def parse_secret(text: str) -> Secret:
    """A `whsec_<base64>` signing secret, checked for its form (24 to 64 bytes)."""
    value = text.strip()
    if not value.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"must be {SECRET_PREFIX} followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError("must hold 24 to 64 bytes of key")
    register_secret(value)
    register_secret(value[len(SECRET_PREFIX) :])
    return Secret(value)


def read_secret(path: Path) -> Secret:
    """The signing secret in the file at `path`; ConfigurationError naming the file."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read webhook secret file {path}: {exc.strerror}"
        ) from None
    try:
        return parse_secret(text)
    except ValueError as exc:
        raise ConfigurationError(f"webhook secret file {path}: the secret {exc}") from None


def _strings(entry: dict[str, Any], name: str, default: list[str]) -> frozenset[str]:
    value = entry.get(name, default)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"`{name}` must be a non-empty list of strings")
    return frozenset(value)


def parse_subscription(entry: Any) -> Subscription:
    """One entry of the webhooks file; ValueError naming the field that is wrong."""
    if not isinstance(entry, dict):
        raise ValueError("must be a mapping with name, url, secret_file, apps, events, format")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise ValueError(f"unknown field `{unknown[0]}`")
    name, url = entry.get("name"), entry.get("url")
    if not isinstance(name, str) or not name:
        raise ValueError("`name` is required")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError("`url` must be an http:// or https:// URL")
    events = _strings(entry, "events", list(END_EVENTS))
    if bad := sorted(events - set(EVENTS)):
        raise ValueError(f"`events`: unknown event {bad[0]!r} (known: {', '.join(EVENTS)})")
    fmt = entry.get("format", "standard")
    if fmt not in FORMATS:
        raise ValueError(f"`format` must be one of {', '.join(FORMATS)}")
    secret_file = entry.get("secret_file")
    if fmt == "standard":
        if not isinstance(secret_file, str) or not secret_file:
            raise ValueError("`secret_file` is required for format standard (it signs)")
        try:
            read_secret(Path(secret_file))
        except ConfigurationError as exc:
            raise ValueError(f"`secret_file`: {exc}") from None
    elif secret_file is not None:
        raise ValueError("`secret_file` is not used by format slack (Slack does not verify)")
    return Subscription(
        name=name,
        url=url,
        secret_file=Path(secret_file) if secret_file else None,
        apps=_strings(entry, "apps", ["*"]),
        events=events,
        format=fmt,
    )


def load_subscriptions(path: Path | None) -> list[Subscription]:
    """The standing subscriptions in `path` (YAML or JSON list); none when unset.
    A bad file is a ConfigurationError naming the file, the entry and the field."""
    if path is None:
        return []
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read PUSHGATE_WEBHOOKS_FILE {path}: {exc.strerror}"
        ) from None
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"webhooks file {path} does not parse: {exc}") from None
    if not isinstance(data or [], list):
        raise ConfigurationError(f"webhooks file {path}: expected a list of subscriptions")
    subscriptions: list[Subscription] = []
    for i, entry in enumerate(data or []):
        label = f"#{i + 1}"
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            label += f" ({entry['name']})"
        try:
            subscription = parse_subscription(entry)
        except ValueError as exc:
            raise ConfigurationError(f"webhooks file {path}, subscription {label}: {exc}") from None
        if any(s.name == subscription.name for s in subscriptions):
            raise ConfigurationError(
                f"webhooks file {path}, subscription {label}: `name` is used twice"
            )
        subscriptions.append(subscription)
    return subscriptions


def job_callback(
    url: str,
    events: list[str] | None,
    secret_file: Path | None,
    hosts: frozenset[str],
    resolve: Resolve = resolve_host,
) -> dict[str, Any]:
    """The `callback` of a job that asked for `callback_url`: checked against the SSRF guard,
    signed later with the caller's key's secret (only its file's path is kept)."""
    if secret_file is None:
        raise InvalidRequest(
            "callback_url",
            "this API key has no webhook secret to sign callbacks with "
            "(the operator sets webhook_secret_file on the key)",
        )
    try:
        HostPolicy(hosts, resolve).check_url(url)
    except CallbackRefused as exc:
        raise InvalidRequest("callback_url", f"callback refused: {exc}") from None
    chosen = list(dict.fromkeys(events or END_EVENTS))
    if bad := [e for e in chosen if e not in EVENTS]:
        raise InvalidRequest("callback_events", f"unknown event {bad[0]!r}")
    return {"url": url, "events": chosen, "secret_file": str(secret_file)}
