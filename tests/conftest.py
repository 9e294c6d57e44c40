"""Real services for the tests: Redis, a plain source registry, a token-auth vendor stand-in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import redis

from deploy.demo_stack.token_server import Account, TokenIssuer, TokenServer
from tests.support.accounts import (
    BASIC_PASSWORD,
    BASIC_USER,
    EMAIL,
    IDENTITY_TOKEN,
    OTHER_TOKEN,
    PASSWORD,
    SA_TOKEN,
    SOURCE_TOKEN,
    USER_TOKEN,
)
from tests.support.helper import HelperAccount, HelperState
from tests.support.images import ImageBuilder
from tests.support.services import DockerDaemon, RedisServer, Registry
from worker.settings import Secret, Settings


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch folder for the session's services."""
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free port."""
    server = RedisServer(workdir / "redis")
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the session's Redis."""
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(scope="session")
def source_registry(workdir: Path) -> Iterator[Registry]:
    """A plain (no auth) distribution registry holding the source images."""
    registry = Registry(workdir / "source")
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def token_issuer() -> TokenIssuer:
    """Vendor-style accounts: a service account for myapp and shared, a user token, a password."""
    return TokenIssuer.create(
        [
            Account("service_account", SA_TOKEN, ["myapp", "shared"]),
            Account("user_token", USER_TOKEN, ["myapp"], email=EMAIL),
            Account("password", PASSWORD, ["myapp"], email=EMAIL),
            Account("service_account", OTHER_TOKEN, ["otherapp"]),
            Account("service_account", SOURCE_TOKEN, ["acme"]),
            Account("identity_token", IDENTITY_TOKEN, ["acme"]),
        ]
    )


@pytest.fixture(scope="session")
def token_server(token_issuer: TokenIssuer) -> Iterator[TokenServer]:
    """The token server for the vendor stand-in."""
    server = TokenServer(token_issuer).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def vendor_registry(
    workdir: Path, token_server: TokenServer, token_issuer: TokenIssuer
) -> Iterator[Registry]:
    """A token-auth distribution registry standing in for the vendor registry."""
    registry = Registry(
        workdir / "vendor", token_realm=token_server.realm, cert_pem=token_issuer.cert_pem
    )
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def private_source(
    workdir: Path, token_server: TokenServer, token_issuer: TokenIssuer
) -> Iterator[Registry]:
    """A second token-auth registry, used as a source that needs credentials."""
    registry = Registry(
        workdir / "private-source", token_realm=token_server.realm, cert_pem=token_issuer.cert_pem
    )
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def basic_registry(workdir: Path) -> Iterator[Registry]:
    """A Basic-only distribution registry (htpasswd, no token service), as Harbor or Nexus."""
    registry = Registry(workdir / "basic", basic=(BASIC_USER, BASIC_PASSWORD))
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def helper_state(workdir: Path) -> HelperState:
    """The state of the test credential helper (every secret it handed out)."""
    return HelperState(workdir / "helper-state.json")


@pytest.fixture(scope="session")
def helper_account(helper_state: HelperState) -> HelperAccount:
    """The keychain registry's only account: the helper's newest secret, for acme/*."""
    return HelperAccount("service_account", "", ["acme"], state=helper_state)


@pytest.fixture(scope="session")
def helper_registry(workdir: Path, helper_account: HelperAccount) -> Iterator[Registry]:
    """A token-auth registry whose credentials come only from the credential helper."""
    issuer = TokenIssuer.create([helper_account, Account("service_account", SA_TOKEN, ["*"])])
    server = TokenServer(issuer).start()
    registry = Registry(workdir / "keychain", token_realm=server.realm, cert_pem=issuer.cert_pem)
    yield registry
    registry.stop()
    server.stop()


@pytest.fixture(scope="session")
def source_images(source_registry: Registry) -> Iterator[ImageBuilder]:
    """Pushes test images into the source registry."""
    builder = ImageBuilder(source_registry.url)
    yield builder
    builder.close()


@pytest.fixture
def unique() -> str:
    """A fresh name for a repository, so tests never share one."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(
    redis_server: RedisServer, source_registry: Registry, vendor_registry: Registry
) -> Settings:
    """Settings wired to the real services, with the service-account token."""
    return Settings(
        redis_url=redis_server.url,
        registry=vendor_registry.host,
        registry_username="any-name",
        registry_token=Secret(SA_TOKEN),
        insecure_registries=frozenset({source_registry.host, vendor_registry.host}),
        source_registries=frozenset({source_registry.host}),
        token_realm_hosts=frozenset(TokenServer.started),
        retry_max_wait=5.0,
        progress_interval=0.05,
    )


@pytest.fixture(scope="session")
def docker_daemon(workdir: Path) -> Iterator[DockerDaemon]:
    """A real dockerd started by the tests (vfs storage, as root)."""
    daemon = DockerDaemon(workdir / "dockerd")
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def docker_client(docker_daemon: DockerDaemon) -> Iterator[docker.DockerClient]:
    """A Docker SDK client of the test daemon."""
    client = docker.DockerClient(base_url=docker_daemon.url, timeout=300)
    yield client
    client.close()
