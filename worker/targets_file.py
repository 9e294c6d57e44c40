"""Reading PUSHGATE_TARGETS_FILE (YAML): every entry checked, and a bad one named by file,
entry and field."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

import yaml

from worker.errors import ConfigurationError, InvalidReference
from worker.policies import ReferrersPolicy
from worker.reference import (
    parse_reference,
    validate_repository,
    validate_slug,
)
from worker.settings import Secret, Settings
from worker.targets import (
    ALL_APPS,
    BUILTIN,
    DEFAULT_REPOSITORY,
    Target,
    TargetSet,
    builtin_target,
)

_PLACEHOLDERS = frozenset({"app_slug", "target"})
_HELPER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_FIELDS = frozenset(
    {
        "name",
        "registry",
        "repository",
        "username",
        "password_file",
        "token_file",
        "credential_helper",
        "docker_config",
        "insecure",
        "apps",
        "token_realm_hosts",
        "referrers",
        "layer_limit",
    }
)


def load_targets(settings: Settings) -> TargetSet:
    """The built-in target and PUSHGATE_TARGETS_FILE's (an entry named `replicated` replaces
    the built-in one); a bad file is a ConfigurationError naming the file, entry and field."""
    targets = {BUILTIN: builtin_target(settings)}
    path = settings.targets_file
    if path is None:
        return TargetSet(targets)
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigurationError(f"cannot read targets file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"targets file {path} is not valid YAML: {exc}") from None
    if isinstance(document, dict) and set(document) == {"targets"}:
        document = document["targets"]
    if not isinstance(document, list):
        raise ConfigurationError(f"targets file {path}: expected a list of targets")
    parsed: list[Target] = []
    for index, entry in enumerate(document, start=1):
        parsed.append(_parse_entry(entry, index, path))
    _check_set(parsed, path)
    targets.update({target.name: target for target in parsed})
    return TargetSet(targets)


class _Entry:
    """One entry of the file while it is read: errors name the file, the entry and the field."""

    def __init__(self, data: dict[str, Any], index: int, path: Path) -> None:
        self.data, self.path = data, path
        name = data.get("name")
        self.label = f"target #{index}" + (f" ({name})" if isinstance(name, str) else "")

    def error(self, name: str, problem: str) -> ConfigurationError:
        where = f"targets file {self.path}: {self.label}"
        return ConfigurationError(f"{where}: field `{name}`: {problem}")

    def text(self, name: str, required: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise self.error(name, "is required")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(name, "must be a non-empty string")
        return value.strip()

    def flag(self, name: str) -> bool:
        value = self.data.get(name, False)
        if not isinstance(value, bool):
            raise self.error(name, "must be true or false")
        return value

    def file(self, name: str) -> Path | None:
        value = self.text(name)
        if value is None:
            return None
        file = Path(value)
        return file if file.is_absolute() else self.path.parent / file


def _parse_entry(data: Any, index: int, path: Path) -> Target:
    if not isinstance(data, dict):
        raise ConfigurationError(f"targets file {path}: target #{index}: expected a mapping")
    entry = _Entry(data, index, path)
    for key in data:
        if key in ("password", "token", "secret"):
            raise entry.error(
                str(key),
                "secrets never go in the targets file: put it in a file readable by the "
                "workers and name that file with password_file or token_file",
            )
        if key not in _FIELDS:
            raise entry.error(str(key), f"unknown; known fields: {', '.join(sorted(_FIELDS))}")
    name = entry.text("name", required=True)
    registry = entry.text("registry", required=True)
    assert name is not None and registry is not None
    try:
        validate_slug(name)
    except InvalidReference as exc:
        raise entry.error("name", str(exc)) from None
    registry = _registry(entry, registry)
    repository = entry.text("repository") or DEFAULT_REPOSITORY
    _check_template(entry, repository)
    target = Target(
        name=name,
        registry=registry,
        repository=repository,
        insecure=entry.flag("insecure"),
        apps=_apps(entry),
        token_realm_hosts=_realm_hosts(entry),
        referrers=_referrers(entry, name),
        layer_limit=_layer_limit(entry),
        **_credentials(entry, name),
    )
    return target


def _registry(entry: _Entry, registry: str) -> str:
    try:
        host = parse_reference(f"{registry}/probe/image").registry
    except InvalidReference as exc:
        raise entry.error("registry", str(exc)) from None
    if host != registry.lower() and not registry.lower().endswith("docker.io"):
        raise entry.error(
            "registry", f"{registry!r} is not host[:port] (a host needs a dot, a port or localhost)"
        )
    return host


def _check_template(entry: _Entry, template: str) -> None:
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise entry.error("repository", f"malformed template {template!r}: {exc}") from None
    unknown = used - _PLACEHOLDERS
    if unknown:
        raise entry.error(
            "repository",
            f"unknown placeholder(s) {', '.join(sorted(unknown))}; use {{app_slug}} and {{target}}",
        )
    try:
        validate_repository(template.format(app_slug="app", target="image"))
    except InvalidReference as exc:
        raise entry.error("repository", f"{template!r} does not give an OCI name: {exc}") from None


def _referrers(entry: _Entry, name: str) -> ReferrersPolicy:
    """The target's `referrers` policy; by default copy, but skip for `replicated` (the vendor
    registry serves no referrers)."""
    value = entry.text("referrers")
    if value is None:
        return ReferrersPolicy.SKIP if name == BUILTIN else ReferrersPolicy.COPY
    try:
        return ReferrersPolicy(value)
    except ValueError:
        allowed = ", ".join(policy.value for policy in ReferrersPolicy)
        raise entry.error("referrers", f"must be one of {allowed}") from None


def _layer_limit(entry: _Entry) -> int | None:
    """The smallest layer, in bytes, the target's registry refuses (none by default)."""
    value = entry.data.get("layer_limit")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise entry.error("layer_limit", "must be a whole number of bytes, 1 or more")
    return value


def _apps(entry: _Entry) -> frozenset[str]:
    apps = entry.data.get("apps", [])
    if not isinstance(apps, list) or not all(isinstance(a, str) for a in apps):
        raise entry.error("apps", 'must be a list of app slugs, or ["*"]')
    for app in apps:
        if app != ALL_APPS:
            try:
                validate_slug(app)
            except InvalidReference as exc:
                raise entry.error("apps", str(exc)) from None
    return frozenset(apps)


def _realm_hosts(entry: _Entry) -> frozenset[str]:
    hosts = entry.data.get("token_realm_hosts", [])
    if not isinstance(hosts, list) or not all(
        isinstance(h, str) and h and "/" not in h and " " not in h for h in hosts
    ):
        raise entry.error("token_realm_hosts", "must be a list of host or host:port")
    return frozenset(h.lower() for h in hosts)


def _credentials(entry: _Entry, name: str) -> dict[str, Any]:
    username = entry.text("username")
    files = [(key, entry.file(key)) for key in ("password_file", "token_file")]
    given = [(key, file) for key, file in files if file is not None]
    helper = entry.text("credential_helper")
    docker_config = entry.flag("docker_config")
    styles = [on for on in (given, helper, docker_config) if on]
    if len(styles) > 1 or len(given) > 1:
        raise entry.error(
            "credentials",
            "give exactly one of: username + password_file (or token_file), credential_helper, "
            "docker_config: true; or none for anonymous access",
        )
    if given:
        key, file = given[0]
        assert file is not None
        if not username:
            raise entry.error("username", f"is required with {key}")
        return {"username": username, "password": Secret.from_file(file, f"target {name}'s {key}")}
    if username:
        raise entry.error("username", "needs password_file or token_file")
    if helper is not None and not _HELPER_RE.match(helper):
        raise entry.error(
            "credential_helper", "give the NAME of docker-credential-NAME (letters, digits, ._-)"
        )
    return {"credential_helper": helper, "docker_config": docker_config}


def _check_set(targets: list[Target], path: Path) -> None:
    seen: dict[str, Target] = {}
    owners: dict[str, str] = {}
    for target in targets:
        where = f"targets file {path}: target {target.name}"
        if target.name in seen:
            raise ConfigurationError(f"{where}: field `name`: used twice")
        seen[target.name] = target
        for app in target.apps:
            if app in owners:
                what = "`*` is allowed once" if app == ALL_APPS else f"app {app} has two defaults"
                raise ConfigurationError(f"{where}: field `apps`: {what} (also {owners[app]})")
            owners[app] = target.name
        other = next((t for t in seen.values() if t.registry == target.registry), target)
        if other.login != target.login:
            raise ConfigurationError(
                f"{where}: field `registry`: {target.registry} is also target {other.name}'s "
                "with other credentials; targets on one registry share one login"
            )
