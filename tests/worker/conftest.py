"""Fixtures for engine tests: an engine wired to the real registries."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.proxy import RegistryProxy
from tests.support.services import Registry
from worker.registry.copier import CopyEngine
from worker.settings import Settings


@pytest.fixture
def make_engine(settings: Settings) -> Iterator[Callable[..., CopyEngine]]:
    """Build engines from the test settings with overrides; closes them afterwards."""
    engines: list[CopyEngine] = []

    def make(**overrides: object) -> CopyEngine:
        engine = CopyEngine.from_settings(Settings(**{**settings.__dict__, **overrides}))
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
    proxy = RegistryProxy(vendor_registry.port, reject_attestations=True)
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
