"""A copy engine whose registry is a fault-injecting proxy, and what that proxy saw."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.proxy import RegistryProxy
from worker.registry.copier import CopyEngine
from worker.settings import Settings


def engine_via(
    make_engine: Callable[..., CopyEngine],
    settings: Settings,
    proxy: RegistryProxy,
    **overrides: object,
) -> CopyEngine:
    """An engine from `make_engine` that reaches the vendor registry through `proxy`."""
    return make_engine(
        registry=proxy.host,
        insecure_registries=settings.insecure_registries | {proxy.host},
        **overrides,
    )


def patch_ranges(proxy: RegistryProxy, repository: str) -> list[str]:
    """Content-Range of every PATCH the registry answered, in order."""
    return [
        e.request_headers["Content-Range"]
        for e in proxy.stats.exchanges("PATCH", f"/{repository}/blobs/uploads/")
    ]
