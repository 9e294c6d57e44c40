"""Named push targets: the built-in `replicated` from PUSHGATE_REGISTRY*, and the operator's
PUSHGATE_TARGETS_FILE (YAML), each a registry, a repository template and one credential style."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from worker.errors import InvalidRequest
from worker.policies import ReferrersPolicy
from worker.reference import (
    Reference,
    validate_repository,
    validate_slug,
    validate_tag,
)
from worker.registry.credentials import (
    Credentials,
    CredentialSource,
    HelperCredentials,
    StaticCredentials,
    docker_config_source,
    helper_server_url,
)
from worker.settings import Secret, Settings

BUILTIN = "replicated"
DEFAULT_REPOSITORY = "{app_slug}/{target}"
ALL_APPS = "*"


@dataclass(frozen=True)
class Target:
    """One place images go: a registry, a repository template and how to log in there."""

    name: str
    registry: str
    repository: str = DEFAULT_REPOSITORY
    username: str = ""
    password: Secret | None = field(default=None, repr=False)
    credential_helper: str | None = None
    docker_config: bool = False
    insecure: bool = False
    apps: frozenset[str] = frozenset()
    token_realm_hosts: frozenset[str] = frozenset()  # besides `registry`, for its tokens
    referrers: ReferrersPolicy = ReferrersPolicy.COPY
    layer_limit: int | None = None  # the smallest layer (bytes) its registry will not take

    def reference(self, app_slug: str, image: str, tag: str) -> Reference:
        """REGISTRY/<repository template filled in>:TAG, validated."""
        validate_slug(app_slug)
        validate_tag(tag)
        name = self.repository.format(app_slug=app_slug, target=image)
        return Reference(self.registry, validate_repository(name), tag=tag)

    @property
    def login(self) -> tuple[object, ...]:
        """What identifies the credential (targets sharing a registry must share it)."""
        return (self.username, self.password, self.credential_helper, self.docker_config)

    def credentials(self, settings: Settings) -> CredentialSource | None:
        """Where this target's credentials come from (None: anonymous)."""
        if self.credential_helper:
            return HelperCredentials(
                self.credential_helper,
                helper_server_url(self.registry),
                settings.credential_helper_ttl,
            )
        if self.docker_config:
            return docker_config_source(
                settings.docker_config, self.registry, settings.credential_helper_ttl
            )
        if self.password is not None:
            return StaticCredentials(Credentials(self.username, self.password))
        return None


@dataclass(frozen=True)
class TargetSet:
    """Every target by name, and which one is each app's default."""

    targets: Mapping[str, Target]

    @property
    def names(self) -> list[str]:
        """The target names, as configured."""
        return list(self.targets)

    def default_for(self, app_slug: str) -> Target:
        """The app's default target: the one naming it, else the `*` one, else `replicated`."""
        for target in self.targets.values():
            if app_slug in target.apps:
                return target
        for target in self.targets.values():
            if ALL_APPS in target.apps:
                return target
        return self.targets[BUILTIN]

    def resolve(self, names: Iterable[str], app_slug: str) -> list[Target]:
        """The named targets (the app's default when none are named); InvalidRequest names
        an unknown one."""
        chosen = list(dict.fromkeys(names))
        if not chosen:
            return [self.default_for(app_slug)]
        unknown = [name for name in chosen if name not in self.targets]
        if unknown:
            raise InvalidRequest(
                "targets",
                f"unknown target(s) {', '.join(unknown)}; this service has "
                f"{', '.join(self.targets)}",
            )
        return [self.targets[name] for name in chosen]

    def for_registry(self, registry: str) -> Target | None:
        """The target on `registry`, if any (targets on one registry share one login)."""
        return next((t for t in self.targets.values() if t.registry == registry), None)


def builtin_target(settings: Settings) -> Target:
    """`replicated`: the vendor registry as PUSHGATE_REGISTRY* configure it."""
    return Target(
        name=BUILTIN,
        registry=settings.registry,
        username=settings.registry_username,
        password=settings.registry_token,
        token_realm_hosts=settings.registry_token_realm_hosts,
        referrers=ReferrersPolicy.SKIP,  # the vendor registry does not serve referrers
    )
