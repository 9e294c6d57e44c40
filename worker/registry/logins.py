"""Which credentials and scheme each registry host gets: a target's, else DOCKER_CONFIG's.
The targets are given (read by the caller): the engine reads no files of its own."""

from __future__ import annotations

from typing import Protocol

from worker.registry.credentials import (
    CredentialSource,
    docker_config_realm_hosts,
    docker_config_source,
)
from worker.settings import Settings


class Login(Protocol):
    """How to reach one registry, as a configured target says (worker.targets.Target)."""

    @property
    def insecure(self) -> bool:
        """True when the registry is reached over plain HTTP."""

    @property
    def token_realm_hosts(self) -> frozenset[str]:
        """Hosts besides the registry whose token realm may get its credentials."""

    def credentials(self, settings: Settings) -> CredentialSource | None:
        """Where its credentials come from (None: anonymous)."""


class LoginsByRegistry(Protocol):
    """The configured targets, asked by registry host (worker.targets.TargetSet)."""

    def for_registry(self, registry: str) -> Login | None:
        """The login of the target on `registry`, if any."""


class Logins:
    """Per registry host: the credential source (targets first, then the Docker config of
    the sources) and whether it is plain HTTP."""

    def __init__(self, settings: Settings, targets: LoginsByRegistry) -> None:
        self.settings = settings
        self.targets = targets

    def credentials(self, registry: str) -> CredentialSource | None:
        """Where the credentials for `registry` come from (None: anonymous)."""
        target = self.targets.for_registry(registry)
        if target is not None:
            return target.credentials(self.settings)
        ttl = self.settings.credential_helper_ttl
        return docker_config_source(self.settings.docker_config, registry, ttl)

    def insecure(self, registry: str) -> bool:
        """True when `registry` is reached over plain HTTP."""
        target = self.targets.for_registry(registry)
        return self.settings.is_insecure(registry) or (target is not None and target.insecure)

    def realm_hosts(self, registry: str) -> frozenset[str]:
        """The hosts besides `registry` whose token realm may get its credentials: the
        target's `token_realm_hosts`, else its DOCKER_CONFIG entry's, and the service-wide
        PUSHGATE_TOKEN_REALM_HOSTS."""
        target = self.targets.for_registry(registry)
        if target is not None:
            own = target.token_realm_hosts
        else:
            own = docker_config_realm_hosts(self.settings.docker_config, registry)
        return own | self.settings.token_realm_hosts
