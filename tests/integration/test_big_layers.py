"""Big layers through bad links: resumable uploads that finish, waste little and stay small.

The layers are random bytes generated while they are pushed to the source, so nothing can
compress them and no test holds them in memory.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.images import ImageBuilder
from tests.support.memory import MiB, PeakRss
from tests.support.proxy import FORTY_TWO_PERCENT, Faults, RegistryProxy
from tests.support.pushgate import Service, launch, redis_db
from tests.support.services import RedisServer, Registry
from worker.settings import Settings

GiB = 1 << 30


@pytest.fixture
def front(vendor_registry: Registry) -> Iterator[RegistryProxy]:
    """A proxy in front of the vendor stand-in; each test sets its faults."""
    proxy = RegistryProxy(vendor_registry.port)
    yield proxy
    proxy.stop()


@pytest.fixture
def big_service(
    tmp_path: Path, redis_server: RedisServer, source_registry: Registry, front: RegistryProxy
) -> Iterator[Service]:
    """One worker with default settings, pushing through `front`."""
    svc = launch(tmp_path, redis_db(redis_server), source_registry.host, front.host)
    yield svc
    svc.stop()


@pytest.fixture
def mirror_service(
    tmp_path: Path, redis_server: RedisServer, source_registry: Registry, front: RegistryProxy
) -> Iterator[Service]:
    """One worker with default settings whose target `mirror` is `front` (the vendor's own
    registry refuses layers of 1.9 GB and more before any byte, so 2 GiB goes elsewhere)."""
    targets = tmp_path / "targets.yaml"
    targets.write_text(f"- {{name: mirror, registry: '{front.host}', insecure: true}}\n")
    svc = launch(
        tmp_path,
        redis_db(redis_server),
        source_registry.host,
        front.host,
        shared_env={"PUSHGATE_TARGETS_FILE": str(targets)},
    )
    yield svc
    svc.stop()


def push_watching(
    svc: Service, source: str, **body: Any
) -> tuple[dict[str, Any], list[int], float]:
    """Push and wait (30 min at most); returns the job, every bytes_done seen, and seconds."""
    seen: list[int] = []

    def finished(job: dict[str, Any]) -> bool:
        seen.append(job["progress"]["bytes_done"])
        return job["status"] in ("succeeded", "failed", "cancelled")

    started = time.monotonic()
    job = svc.wait_for(svc.submit(source=source, app_slug="myapp", **body), 1800, finished)
    return job, seen, time.monotonic() - started


def largest_step_back(seen: list[int]) -> int:
    """The most bytes_done ever went down between two readings."""
    return max([0, *(before - after for before, after in itertools.pairwise(seen))])


def test_a_1_gib_layer_gets_through_the_42_percent_link_uploading_at_most_1_5x(
    big_service: Service,
    front: RegistryProxy,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    image = source_images.image(f"acme/{unique}", "1", [], streamed=[GiB])
    first_patch: list[str] = []

    def first_patch_fails(method: str, path: str, nth: int) -> str | None:
        if method == "PATCH" and nth == 1:
            first_patch.append(path)
            return "503"
        return None

    front.faults = Faults(every=FORTY_TWO_PERCENT, plan=first_patch_fails)
    job, seen, took = push_watching(big_service, f"{source_registry.host}/acme/{unique}:1")
    assert job["status"] == "succeeded", job
    assert job["digest"] == image.digest
    stats = front.stats
    print(
        f"\n1 GiB layer through the 42% link: {took:.1f}s, {job['retries']} retries, "
        f"{stats.uploaded} bytes uploaded = {stats.uploaded / GiB:.3f}x the layer; "
        f"{stats.failed()} of {stats.requests} requests failed ({dict(stats.injected)})"
    )
    assert len(first_patch) == 1  # the upload's first PATCH was one of the failed requests
    assert stats.uploaded <= 1.5 * GiB
    assert stats.failed() >= 0.3 * stats.requests
    assert largest_step_back(seen) <= Settings().chunk_size


def test_a_2_gib_layer_dropped_mid_stream_resumes_with_the_worker_memory_flat(
    mirror_service: Service,
    front: RegistryProxy,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    image = source_images.image(f"acme/{unique}", "1", [], streamed=[2 * GiB])
    # The second PATCH breaks halfway through its body, before the registry sees any of it.
    front.faults = Faults(
        plan=lambda method, path, nth: "drop" if method == "PATCH" and nth == 2 else None
    )
    worker = mirror_service.workers[0].proc.pid  # the group of the worker and its pool child
    with PeakRss(worker) as rss:
        job, seen, took = push_watching(
            mirror_service, f"{source_registry.host}/acme/{unique}:1", targets=["mirror"]
        )
    assert job["status"] == "succeeded", job
    assert job["digest"] == image.digest
    stats = front.stats
    print(
        f"\n2 GiB layer, dropped once mid-stream: {took:.1f}s; worker tree RSS "
        f"{rss.first / MiB:.0f} MiB before, {rss.peak / MiB:.0f} MiB at most "
        f"({rss.samples} samples); {stats.uploaded / (2 * GiB):.3f}x the layer uploaded"
    )
    assert stats.injected["drop"] == 1
    # Resumed, not restarted: one upload session for the layer, and the bytes went up once
    # plus the half PATCH that was lost.
    sessions = [e for e in stats.exchanges("POST", "/blobs/uploads/") if unique in e.path]
    assert len(sessions) == 2  # the config's and the layer's
    assert stats.uploaded <= 2 * GiB + Settings().chunk_size // 2 + 8 * MiB
    assert rss.samples > 0 and rss.peak - rss.first <= 256 * MiB
    assert largest_step_back(seen) <= Settings().chunk_size
