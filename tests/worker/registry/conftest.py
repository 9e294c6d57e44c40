"""Fixtures of the copy engine's registry tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.proxy import Faults, RegistryProxy
from tests.support.services import Registry


@pytest.fixture
def proxy_for(vendor_registry: Registry) -> Iterator[Callable[[Faults], RegistryProxy]]:
    """Start fault-injecting proxies in front of the vendor stand-in."""
    proxies: list[RegistryProxy] = []

    def start(faults: Faults) -> RegistryProxy:
        proxy = RegistryProxy(vendor_registry.port, faults=faults)
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.stop()
