"""Retries, Retry-After, 4xx and stalls, through a fault-injecting proxy."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.fault_engines import engine_via
from tests.support.images import ImageBuilder
from tests.support.proxy import Faults, RegistryProxy
from tests.support.services import Registry
from worker.errors import AuthError, NotFoundError
from worker.reference import destination, parse_reference
from worker.registry.copier import CopyEngine
from worker.settings import Settings

KiB, MiB = 1024, 1 << 20


def test_429_with_non_json_body_and_retry_after_is_honoured(
    make_engine: Callable[..., CopyEngine],
    settings: Settings,
    source_images: ImageBuilder,
    source_registry: Registry,
    proxy_for: Callable[[Faults], RegistryProxy],
    unique: str,
) -> None:
    proxy = proxy_for(
        Faults(
            retry_after="1",
            plan=lambda method, path, nth: (
                "429" if method == "PUT" and "/manifests/" in path and nth <= 2 else None
            ),
        )
    )
    image = source_images.image(f"acme/{unique}", "1", [KiB])
    engine = engine_via(make_engine, settings, proxy)
    before = engine.retry.stats.retries
    result = engine.copy(
        parse_reference(f"{source_registry.host}/acme/{unique}:1"),
        [destination(proxy.host, "myapp", unique, "1")],
    )
    assert result.digest == image.digest
    assert proxy.stats.injected["429"] == 2
    assert engine.retry.stats.retries - before >= 2


@pytest.mark.parametrize(("fault_status", "error"), [("403", AuthError), ("404", NotFoundError)])
def test_4xx_is_never_retried(
    make_engine: Callable[..., CopyEngine],
    source_images: ImageBuilder,
    source_registry: Registry,
    vendor_registry: Registry,
    unique: str,
    fault_status: str,
    error: type[Exception],
) -> None:
    engine = make_engine()
    target = "notmine" if fault_status == "403" else "myapp"
    source = f"{source_registry.host}/acme/{unique}:{'1' if fault_status == '403' else 'gone'}"
    if fault_status == "403":
        source_images.image(f"acme/{unique}", "1", [KiB])
    before = engine.retry.stats.retries
    with pytest.raises(error):
        engine.copy(
            parse_reference(source), [destination(vendor_registry.host, target, unique, "1")]
        )
    assert engine.retry.stats.retries == before


def test_stalled_response_is_abandoned_and_retried(
    make_engine: Callable[..., CopyEngine],
    settings: Settings,
    source_images: ImageBuilder,
    source_registry: Registry,
    proxy_for: Callable[[Faults], RegistryProxy],
    unique: str,
) -> None:
    proxy = proxy_for(
        Faults(
            stall_seconds=5,
            plan=lambda method, path, nth: (
                "stall" if method == "HEAD" and "/blobs/" in path and nth == 1 else None
            ),
        )
    )
    image = source_images.image(f"acme/{unique}", "1", [KiB])
    engine = engine_via(make_engine, settings, proxy, stall_timeout=1.0)
    result = engine.copy(
        parse_reference(f"{source_registry.host}/acme/{unique}:1"),
        [destination(proxy.host, "myapp", unique, "1")],
    )
    assert result.digest == image.digest and proxy.stats.injected["stall"] == 1


def test_requests_per_registry_stay_within_the_process_limit(
    make_engine: Callable[..., CopyEngine],
    settings: Settings,
    source_images: ImageBuilder,
    source_registry: Registry,
    proxy_for: Callable[[Faults], RegistryProxy],
    unique: str,
) -> None:
    proxy = proxy_for(Faults(bandwidth=8 * MiB))  # slow, so requests overlap if allowed to
    image = source_images.image(f"acme/{unique}", "1", [512 * KiB] * 8)
    engines = [
        engine_via(make_engine, settings, proxy, registry_concurrency=3, copy_concurrency=4)
        for _ in range(2)
    ]
    dests = [destination(proxy.host, "myapp", f"{unique}-{n}", "1") for n in range(2)]
    with ThreadPoolExecutor(2) as pool:
        results = list(
            pool.map(
                lambda pair: pair[0].copy(
                    parse_reference(f"{source_registry.host}/acme/{unique}:1"), [pair[1]]
                ),
                zip(engines, dests, strict=True),
            )
        )
    assert [r.digest for r in results] == [image.digest] * 2
    assert 2 <= proxy.stats.max_in_flight <= 3
