"""What a registry is trusted with: its token realm gets credentials only on its own host (or
one the operator named) over https, and its answers are read only up to their caps."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest

from tests.support.hostile import HostileRegistry
from worker.errors import AuthError, RejectedError
from worker.registry.bodies import MAX_MANIFEST_BYTES
from worker.registry.client import RegistryClient
from worker.registry.credentials import Credentials
from worker.registry.repository import Repository
from worker.registry.tokens import RealmRules
from worker.settings import Secret

PASSWORD = "hostile-test-password-9f2c"


@pytest.fixture
def hostile() -> Iterator[HostileRegistry]:
    registry = HostileRegistry()
    yield registry
    registry.stop()


def _client(hostile: HostileRegistry, **extra: object) -> RegistryClient:
    return RegistryClient(
        hostile.host,
        insecure=True,
        credentials=Credentials("robot", Secret(PASSWORD)),
        **extra,  # type: ignore[arg-type]
    )


def test_a_realm_on_another_port_never_sees_the_credentials(hostile: HostileRegistry) -> None:
    client = _client(hostile)
    try:
        with pytest.raises(RejectedError):  # it got an anonymous token, then the big manifest
            Repository(client, "acme/app").manifest("1")
    finally:
        client.close()
    assert hostile.thief.paths, "the realm was never asked"
    for request in hostile.thief.headers:
        assert "Authorization" not in request and PASSWORD not in str(request)


def test_a_realm_host_the_operator_named_gets_them(hostile: HostileRegistry) -> None:
    client = _client(hostile, token_realm_hosts=frozenset({hostile.thief_host}))
    try:
        with pytest.raises(RejectedError):
            Repository(client, "acme/app").manifest("1")
    finally:
        client.close()
    assert all(r.get("Authorization", "").startswith("Basic ") for r in hostile.thief.headers)


def test_a_ten_mebibyte_manifest_is_refused_without_being_held(
    hostile: HostileRegistry,
) -> None:
    client = _client(hostile)
    tracemalloc.start()
    try:
        with pytest.raises(RejectedError, match="longer than 4 MiB"):
            Repository(client, "acme/app").manifest("1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        client.close()
    assert peak < MAX_MANIFEST_BYTES * 3  # the capped buffer and its copy, never 10 MiB more


@pytest.mark.parametrize(
    ("realm", "insecure", "trusted"),
    [
        ("https://registry.example/token", False, True),
        ("https://registry.example:443/token", False, True),
        ("https://auth.example/token", False, False),
        ("https://registry.example:8443/token", False, False),
        ("http://registry.example/token", True, True),
    ],
)
def test_realm_rules(realm: str, insecure: bool, trusted: bool) -> None:
    rules = RealmRules("registry.example", "registry.example", insecure)
    assert rules.trusts(realm) is trusted


@pytest.mark.parametrize("realm", ["http://registry.example/token", "ftp://x/y", "/token"])
def test_a_realm_that_is_not_https_is_refused(realm: str) -> None:
    with pytest.raises(AuthError, match="not an https URL"):
        RealmRules("registry.example", "registry.example").trusts(realm)


def test_docker_hubs_own_realm_is_known() -> None:
    rules = RealmRules("docker.io", "registry-1.docker.io")
    assert rules.trusts("https://auth.docker.io/token")
