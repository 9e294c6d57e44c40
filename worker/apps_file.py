"""Reading PUSHGATE_APPS_FILE (YAML): each app's sources, daemon images, targets and default
targets, checked against the targets at start-up; a bad file is named by file, entry and field."""

from __future__ import annotations

import logging
import string
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from worker.apps import ALL_APPS, NO_APPS_FILE_WARNING, AppPolicies, AppPolicy
from worker.errors import ConfigurationError, InvalidReference
from worker.reference import validate_repository, validate_slug
from worker.registry.cosign import Cover, PublicKey, VerifyPolicy
from worker.settings import Settings
from worker.targets import TEMPLATE_PLACEHOLDERS, TargetSet, fill_repository
from worker.targets_file import load_targets

log = logging.getLogger("pushgate.apps")
_FIELDS = frozenset({"app", "sources", "daemon_images", "targets", "default_targets", "verify"})


def load_apps(settings: Settings, targets: TargetSet) -> AppPolicies:
    """The policies of PUSHGATE_APPS_FILE (none: AppPolicies() allowing everything); a bad
    file is a ConfigurationError naming the file, the entry and the field."""
    path = settings.apps_file
    if path is None:
        return AppPolicies()
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigurationError(f"cannot read apps file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"apps file {path} is not valid YAML: {exc}") from None
    if isinstance(document, dict) and set(document) == {"apps"}:
        document = document["apps"]
    if not isinstance(document, list):
        raise ConfigurationError(f"apps file {path}: expected a list of apps")
    apps: dict[str, AppPolicy] = {}
    for index, data in enumerate(document, start=1):
        policy = _parse_entry(data, index, path, targets)
        if policy.app in apps:
            raise ConfigurationError(f"apps file {path}: app {policy.app}: field `app`: used twice")
        apps[policy.app] = policy
    _check_shared_targets(apps, targets, path)
    return AppPolicies(path, apps)


def check_policies(settings: Settings) -> tuple[TargetSet, AppPolicies]:
    """Load and check the targets and apps files as a process starts, and log once what an
    operator should know: no apps file (every key reads everything), or a deprecated `apps`."""
    targets = load_targets(settings)
    policies = load_apps(settings, targets)
    if not policies.enforced:
        log.warning(NO_APPS_FILE_WARNING)
    legacy = [target.name for target in targets.targets.values() if target.apps]
    if legacy:
        log.warning(
            "targets file %s: `apps` (on %s) is deprecated; give each app its "
            "`default_targets` in PUSHGATE_APPS_FILE",
            settings.targets_file,
            ", ".join(legacy),
        )
    return targets, policies


class _Entry:
    """One entry while it is read: errors name the file, the entry and the field."""

    def __init__(self, data: dict[str, Any], index: int, path: Path) -> None:
        self.data, self.path = data, path
        app = data.get("app")
        self.label = f"app #{index}" + (f" ({app})" if isinstance(app, str) else "")

    def error(self, name: str, problem: str) -> ConfigurationError:
        return ConfigurationError(f"apps file {self.path}: {self.label}: field `{name}`: {problem}")

    def names(self, name: str) -> tuple[str, ...]:
        value = self.data.get(name, [])
        if not isinstance(value, list) or not all(
            isinstance(item, str) and item.strip() and not any(c.isspace() for c in item)
            for item in value
        ):
            raise self.error(name, "must be a list of non-empty strings without spaces")
        return tuple(value)


def _parse_entry(data: Any, index: int, path: Path, targets: TargetSet) -> AppPolicy:
    if not isinstance(data, dict):
        raise ConfigurationError(f"apps file {path}: app #{index}: expected a mapping")
    entry = _Entry(data, index, path)
    for key in data:
        if key not in _FIELDS:
            raise entry.error(str(key), f"unknown; known fields: {', '.join(sorted(_FIELDS))}")
    app = data.get("app")
    if not isinstance(app, str):
        raise entry.error("app", 'is required: an app slug, or "*" for the defaults')
    if app != ALL_APPS:
        try:
            validate_slug(app)
        except InvalidReference as exc:
            raise entry.error("app", str(exc)) from None
    allowed = _targets(entry, targets)
    defaults = entry.names("default_targets")
    stray = [name for name in defaults if name not in allowed]
    if stray:
        raise entry.error("default_targets", f"{', '.join(stray)} not in this app's `targets`")
    return AppPolicy(
        app=app,
        sources=entry.names("sources"),
        daemon_images=entry.names("daemon_images"),
        targets=allowed,
        default_targets=defaults,
        verify=_verify(entry),
    )


def _verify(entry: _Entry) -> VerifyPolicy | None:
    """`verify: {keys: [PEM files], cover: index | children | either}`: the keys are read now
    (relative to the apps file), so a missing or foreign key stops the process at start."""
    value = entry.data.get("verify")
    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= {"keys", "cover"}:
        raise entry.error("verify", "must be {keys: [PEM files], cover: index|children|either}")
    names = value.get("keys")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise entry.error("verify", "`keys` must be a non-empty list of PEM public key files")
    keys = []
    for name in names:
        file = Path(name) if Path(name).is_absolute() else entry.path.parent / name
        try:
            keys.append(PublicKey.from_pem(name, file.read_bytes()))
        except OSError as exc:
            raise entry.error("verify", f"cannot read key file {file}: {exc.strerror}") from None
        except ConfigurationError as exc:
            raise entry.error("verify", str(exc)) from None
    try:
        cover = Cover(value.get("cover", Cover.EITHER.value))
    except ValueError:
        raise entry.error("verify", "`cover` must be index, children or either") from None
    return VerifyPolicy(tuple(keys), cover)


def _targets(entry: _Entry, targets: TargetSet) -> dict[str, str | None]:
    """`targets`: names, or `{name, repository}` giving the app its own repository there."""
    value = entry.data.get("targets", [])
    if not isinstance(value, list):
        raise entry.error("targets", "must be a list of target names or {name, repository}")
    allowed: dict[str, str | None] = {}
    for item in value:
        name, repository = item, None
        if isinstance(item, dict) and set(item) <= {"name", "repository"}:
            name, repository = item.get("name"), item.get("repository")
            if not isinstance(repository, str):
                raise entry.error("targets", f"{name}: `repository` must be a template string")
            _check_template(entry, repository)
        if not isinstance(name, str):
            raise entry.error("targets", "each is a target name or {name, repository}")
        if name not in targets.targets:
            known = ", ".join(targets.names)
            raise entry.error("targets", f"unknown target {name!r}; this service has {known}")
        allowed[name] = repository
    return allowed


def _check_template(entry: _Entry, template: str) -> None:
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
        unknown = used - TEMPLATE_PLACEHOLDERS
        if unknown:
            raise ValueError(f"unknown placeholder(s) {', '.join(sorted(unknown))}")
        validate_repository(fill_repository(template, "app", "image"))
    except (ValueError, InvalidReference) as exc:
        raise entry.error("targets", f"repository {template!r}: {exc}") from None


def _check_shared_targets(apps: dict[str, AppPolicy], targets: TargetSet, path: Path) -> None:
    """A target more than one app may use needs `{app_slug}` in the repository each uses, or
    a repository of each app's own: otherwise one app could overwrite another's images."""
    users: dict[tuple[str, str], list[str]] = defaultdict(list)
    for policy in apps.values():
        for name, override in policy.targets.items():
            template = override or targets.targets[name].repository
            if "{app_slug}" not in template:
                users[(name, template)].append(policy.app)
    for (name, template), sharing in users.items():
        if len(sharing) > 1 or ALL_APPS in sharing:
            who = " and ".join(f'"{app}"' if app == ALL_APPS else app for app in sharing)
            many = " (every app without an entry)" if ALL_APPS in sharing else ""
            raise ConfigurationError(
                f"apps file {path}: target {name} is shared by {who}{many} but its repository "
                f"{template!r} has no {{app_slug}}: one app could overwrite another's images; "
                "put {app_slug} in the target's repository, or give each app its own "
                "(`targets: [{name: ..., repository: ...}]`)"
            )
