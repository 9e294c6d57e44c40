"""Which error wins when several blobs or destinations fail: the rule in
worker/registry/transfer.py, one test per clause."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.images import ImageBuilder
from tests.support.proxy import RegistryProxy
from tests.support.proxy_rules import KnownRepositories, Revocation
from tests.support.services import Registry
from worker.errors import AuthError, NetworkError, PushCancelled, RejectedError
from worker.jobs.destinations import combined_error
from worker.jobs.model import DestinationResult
from worker.reference import Reference, parse_reference
from worker.registry.copier import CopyEngine
from worker.registry.destination import Destination
from worker.settings import Settings

KiB = 1024


@pytest.fixture
def engine_for(
    make_engine: Callable[..., CopyEngine], settings: Settings
) -> Callable[..., CopyEngine]:
    """An engine that reaches the given registry proxies over plain HTTP."""

    def make(*proxies: RegistryProxy, **overrides: object) -> CopyEngine:
        hosts = {proxy.host for proxy in proxies}
        return make_engine(insecure_registries=settings.insecure_registries | hosts, **overrides)

    return make


def test_each_destination_keeps_its_own_first_error_and_the_others_go_on(
    engine_for: Callable[..., CopyEngine],
    proxies: Callable[..., RegistryProxy],
    source_images: ImageBuilder,
    source_registry: Registry,
    vendor_registry: Registry,
    unique: str,
) -> None:
    revoking = proxies(source_registry, Revocation(when=lambda method, path: method == "POST"))
    unknown = proxies(source_registry, KnownRepositories(set()))
    engine = engine_for(revoking, unknown)
    image = source_images.image(f"acme/{unique}", "1", [100 * KiB, 50 * KiB, 2 * KiB])
    destinations = [
        Destination("revoked", [Reference(revoking.host, f"team/{unique}", tag="1")]),
        Destination("replicated", [Reference(vendor_registry.host, f"myapp/{unique}", tag="1")]),
        Destination("ecr", [Reference(unknown.host, f"team/{unique}", tag="1")]),
    ]
    engine.copy_to(parse_reference(f"{source_registry.host}/acme/{unique}:1"), destinations)
    revoked, replicated, ecr = destinations
    assert isinstance(revoked.error, AuthError) and revoked.result is None
    assert isinstance(ecr.error, RejectedError) and ecr.result is None
    assert "does not exist" in ecr.error.detail
    assert replicated.error is None and replicated.result is not None
    assert replicated.result.digest == image.digest


def test_one_destination_reports_its_failure_not_the_stops_it_caused(
    engine_for: Callable[..., CopyEngine],
    proxies: Callable[..., RegistryProxy],
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    revoking = proxies(source_registry, Revocation(when=lambda method, path: method == "POST"))
    engine = engine_for(revoking, copy_concurrency=4)
    source_images.image(f"acme/{unique}", "1", [300 * KiB, 200 * KiB, 100 * KiB, 2 * KiB])
    source = parse_reference(f"{source_registry.host}/acme/{unique}:1")
    with pytest.raises(AuthError):  # not PushCancelled("stopped: another blob ... failed")
        engine.copy(source, [Reference(revoking.host, f"team/{unique}", tag="1")])


def test_the_jobs_stop_beats_a_destinations_failure(
    engine_for: Callable[..., CopyEngine],
    proxies: Callable[..., RegistryProxy],
    source_images: ImageBuilder,
    source_registry: Registry,
    vendor_registry: Registry,
    unique: str,
) -> None:
    revoking = proxies(source_registry, Revocation(when=lambda method, path: method == "POST"))
    engine = engine_for(revoking)
    source_images.image(f"acme/{unique}", "1", [50 * KiB, 2 * KiB])
    destinations = [
        Destination("revoked", [Reference(revoking.host, f"team/{unique}", tag="1")]),
        Destination("replicated", [Reference(vendor_registry.host, f"myapp/{unique}", tag="1")]),
    ]

    def cancelled_once_one_failed() -> None:
        if destinations[0].error is not None:
            raise PushCancelled("cancelled by its owner")

    with pytest.raises(PushCancelled, match="by its owner"):
        engine.copy_to(
            parse_reference(f"{source_registry.host}/acme/{unique}:1"),
            destinations,
            should_stop=cancelled_once_one_failed,
        )
    assert destinations[1].result is None


def test_a_job_reports_the_first_failed_destination_in_its_order() -> None:
    results = [
        DestinationResult("ghcr", "ghcr.io", "acme/app", ["ghcr.io/acme/app:1"]),
        DestinationResult("ecr", "ecr.example", "acme/app", ["ecr.example/acme/app:1"]),
    ]
    failed = [
        (results[0], NetworkError("the connection was reset")),
        (results[1], AuthError("the token was revoked")),
    ]
    error = combined_error(failed, total=3)
    assert error.type == "network" and "(ghcr)" in error.title
    assert error.detail.startswith("2 of 3 destinations failed (1 succeeded): ")
    assert "target ghcr" in error.detail and "target ecr" in error.detail
    assert error.detail.index("target ghcr") < error.detail.index("target ecr")
