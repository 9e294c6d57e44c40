"""Per-app policies (PUSHGATE_APPS_FILE): what each app may read, run and write, and the
verdicts of a request against them. The reader of the file is `worker/apps_file.py`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from worker.reference import DOCKER_HUB, Reference
from worker.registry.cosign import VerifyPolicy

ALL_APPS = "*"
RULE_APP = "app"
RULE_SOURCES = "sources"
RULE_DAEMON_IMAGES = "daemon_images"
RULE_TARGETS = "targets"
NO_APPS_FILE_WARNING = (
    "PUSHGATE_APPS_FILE is not set: every API key may read every source and push every daemon "
    "image the service's credentials reach, to any target its key allows"
)


@dataclass(frozen=True)
class Verdict:
    """One rule's answer to a request: which rule, whether it allows, and why."""

    rule: str
    allowed: bool
    reason: str


@dataclass(frozen=True)
class Access:
    """What a request would do, in the terms policies speak: the app, the source (a registry
    reference, or a daemon image when `daemon`) and the names of the targets it writes."""

    app_slug: str
    source: Reference
    daemon: bool
    targets: tuple[str, ...]


@dataclass(frozen=True)
class AppPolicy:
    """One entry of the apps file. `targets` maps each target name the app may push to onto
    the repository template the app uses there (None: the target's own)."""

    app: str
    sources: tuple[str, ...] = ()
    daemon_images: tuple[str, ...] = ()
    targets: Mapping[str, str | None] = field(default_factory=dict)
    default_targets: tuple[str, ...] = ()
    verify: VerifyPolicy | None = None  # the keys of which one must have signed what ships


@dataclass(frozen=True)
class AppPolicies:
    """Every app's policy (`*`: the defaults for apps without an entry), from `path`. Without
    a file (`path` None) every request is allowed, as before policies existed."""

    path: Path | None = None
    apps: Mapping[str, AppPolicy] = field(default_factory=dict)

    @property
    def enforced(self) -> bool:
        """True when an apps file is in force."""
        return self.path is not None

    def policy_for(self, app_slug: str) -> AppPolicy | None:
        """The app's own entry, else the `*` entry, else None."""
        return self.apps.get(app_slug) or self.apps.get(ALL_APPS)

    def default_targets(self, app_slug: str) -> list[str]:
        """The targets a push of the app goes to when it names none (empty: the targets
        file decides, as before)."""
        policy = self.policy_for(app_slug)
        return list(policy.default_targets) if policy else []

    def verify_for(self, app_slug: str) -> VerifyPolicy | None:
        """The signatures the app's images need before they ship (None: none)."""
        policy = self.policy_for(app_slug)
        return policy.verify if policy else None

    def repository_for(self, app_slug: str, target: str) -> str | None:
        """The repository template the app uses on `target` (None: the target's own)."""
        policy = self.policy_for(app_slug)
        return policy.targets.get(target) if policy else None

    def evaluate(self, access: Access) -> list[Verdict]:
        """Every verdict on `access`: the app's entry, its source (or daemon image) and each
        target, in that order. The request is allowed when all of them allow it."""
        if not self.enforced:
            return [Verdict(RULE_APP, True, NO_APPS_FILE_WARNING)]
        slug = access.app_slug
        policy = self.policy_for(slug)
        if policy is None:
            reason = f"app {slug} has no entry in the apps file {self.path} (and no `*` entry)"
            return [Verdict(RULE_APP, False, reason)]
        entry = f"app {slug}" if policy.app == slug else f"app {slug} (by the `*` entry)"
        return [
            Verdict(RULE_APP, True, f"{entry} is in the apps file {self.path}"),
            self._source_verdict(access, policy, entry),
            *(self._target_verdict(name, policy, entry) for name in access.targets),
        ]

    def _source_verdict(self, access: Access, policy: AppPolicy, entry: str) -> Verdict:
        source = access.source
        if access.daemon:
            rule, patterns = RULE_DAEMON_IMAGES, policy.daemon_images
            names = daemon_image_names(source)
            what = f"daemon image {names[-1]}"
        else:
            rule, patterns = RULE_SOURCES, policy.sources
            names = [f"{source.registry}/{source.repository}"]
            what = f"source {names[0]}"
        for pattern in patterns:
            if any(matches(pattern, name, access.app_slug) for name in names):
                return Verdict(rule, True, f"{what} matches {pattern!r} in {entry}'s `{rule}`")
        listed = "it lists none" if not patterns else "no pattern matches"
        return Verdict(
            rule,
            False,
            f"{entry} may not read {what}: {listed} (rule `{rule}` in the apps file {self.path})",
        )

    def _target_verdict(self, name: str, policy: AppPolicy, entry: str) -> Verdict:
        if name in policy.targets:
            return Verdict(RULE_TARGETS, True, f"target {name} is in {entry}'s `targets`")
        return Verdict(
            RULE_TARGETS,
            False,
            f"{entry} may not push to target {name}: it is not in its `targets` "
            f"(rule `targets` in the apps file {self.path})",
        )


def first_refusal(verdicts: list[Verdict]) -> Verdict | None:
    """The first verdict that refuses, or None when all allow."""
    return next((verdict for verdict in verdicts if not verdict.allowed), None)


def daemon_image_names(source: Reference) -> list[str]:
    """The names a daemon image answers to in patterns: `host/repository`, and for Docker Hub
    also the short name docker shows (`myapp/api`, `nginx` for library images); short last."""
    full = f"{source.registry}/{source.repository}"
    if source.registry != DOCKER_HUB:
        return [full]
    short = source.repository.removeprefix("library/")
    return [full, short]


def matches(pattern: str, name: str, app_slug: str) -> bool:
    """True when `name` (`host[:port]/repository` or a daemon image name) matches `pattern`:
    `*` is any run within one path segment, `**` any run across segments, `{app_slug}` the
    requesting app. Hosts compare without case."""
    return _compile(pattern.replace("{app_slug}", app_slug)).fullmatch(name) is not None


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    host, slash, path = pattern.partition("/")
    parts = [f"(?i:{_glob(host)})" if slash and _looks_like_host(host) else _glob(host)]
    if slash:
        parts.append("/" + _glob(path))
    return re.compile("".join(parts))


def _looks_like_host(text: str) -> bool:
    return "." in text or ":" in text or text == "localhost"


def _glob(text: str) -> str:
    out = []
    for piece in re.split(r"(\*\*|\*)", text):
        out.append({"**": ".*", "*": "[^/]*"}.get(piece, re.escape(piece)))
    return "".join(out)
