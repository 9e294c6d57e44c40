"""Fixtures for engine tests: an engine wired to the real registries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.accounts import BASIC_PASSWORD, BASIC_USER
from tests.support.proxy import RegistryProxy
from tests.support.proxy_rules import RefuseAttestations, Rule
from tests.support.services import RedisServer, Registry
from tests.support.signed_stack import Targets
from worker.engines import build_engine
from worker.jobs.runner import JobRunner, build_runner
from worker.registry.copier import CopyEngine
from worker.settings import Settings


@pytest.fixture
def make_engine(settings: Settings) -> Iterator[Callable[..., CopyEngine]]:
    """Build engines from the test settings with overrides; closes them afterwards."""
    engines: list[CopyEngine] = []

    def make(**overrides: object) -> CopyEngine:
        engine = build_engine(Settings(**{**settings.__dict__, **overrides}))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture
def engine(make_engine: Callable[..., CopyEngine]) -> CopyEngine:
    """An engine with the service-account token for myapp and shared."""
    return make_engine()


@pytest.fixture(scope="module")
def vendor_front(vendor_registry: Registry) -> Iterator[RegistryProxy]:
    """The vendor's front: answers 400 MANIFEST_INVALID to manifests that carry attestations."""
    proxy = RegistryProxy(vendor_registry.port, RefuseAttestations())
    yield proxy
    proxy.stop()


@pytest.fixture
def front_engine(
    make_engine: Callable[..., CopyEngine], settings: Settings, vendor_front: RegistryProxy
) -> CopyEngine:
    """An engine whose vendor registry is reached through the attestation-refusing front."""
    return make_engine(
        registry=vendor_front.host,
        insecure_registries=settings.insecure_registries | {vendor_front.host},
    )


@pytest.fixture
def vendor_proxy(vendor_registry: Registry) -> Iterator[RegistryProxy]:
    """A proxy in front of the vendor stand-in; a test sets `faults.plan` to act mid-push."""
    proxy = RegistryProxy(vendor_registry.port)
    yield proxy
    proxy.stop()


@pytest.fixture
def stoppable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, with an fsync-always AOF so a restart keeps the jobs."""
    server = RedisServer(tmp_path / "redis", persistent=True)
    yield server
    server.stop()


@pytest.fixture
def make_runner() -> Iterator[Callable[[Settings], JobRunner]]:
    """Build in-process job runners (no Celery) on the given settings; closed afterwards."""
    runners: list[JobRunner] = []

    def make(settings: Settings) -> JobRunner:
        runner = build_runner(settings)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close()


@pytest.fixture(scope="module")
def logged_basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A Basic-only registry of the test module that logs every request."""
    registry = Registry(
        tmp_path_factory.mktemp("logged-basic"), basic=(BASIC_USER, BASIC_PASSWORD), access_log=True
    )
    yield registry
    registry.stop()


@pytest.fixture
def signed_targets(
    settings: Settings, tmp_path: Path, logged_basic: Registry, basic_registry: Registry
) -> Iterator[Targets]:
    """Targets `basic` (logged) and `refapi` (the referrers API in front of another)."""
    targets = Targets.start(settings, tmp_path, logged_basic, basic_registry)
    yield targets
    targets.refapi.stop()


@pytest.fixture
def proxies() -> Iterator[Callable[..., RegistryProxy]]:
    """Registry proxies with the given rules in front of registries; stopped afterwards."""
    started: list[RegistryProxy] = []

    def make(registry: Registry, *rules: Rule) -> RegistryProxy:
        proxy = RegistryProxy(registry.port, *rules)
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()
