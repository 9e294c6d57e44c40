"""A destination's layer limit on daemon images: the export path counts a layer's gzip before
sending any byte of the image; the docker-push path refuses by the uncompressed size."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from tests.support.daemon_images import build_scratch_image
from tests.support.services import Registry
from tests.support.vendor import vendor_read
from worker.daemon.export import push_by_export
from worker.daemon.limits import check_before_docker_push, gzip_bound
from worker.daemon.source import DaemonSource
from worker.errors import RejectedError
from worker.jobs.daemon_plan import plan_daemon_push
from worker.jobs.submit import PushRequest, plan_job
from worker.reference import destination
from worker.registry.copier import CopyEngine
from worker.registry.destination import BlobLimit
from worker.registry.progress import Progress
from worker.settings import Settings
from worker.targets_file import load_targets

KiB = 1024
BIG = 300 * KiB  # random bytes: its gzip is a little larger


@pytest.fixture
def image(docker_client: docker.DockerClient, unique: str) -> Iterator[Any]:
    built = build_scratch_image(docker_client, f"local/{unique}:1", [2 * KiB, BIG, 5])
    yield built
    docker_client.images.remove(built.id, force=True)


def _push(
    engine: CopyEngine, daemon: DaemonSource, registry: Registry, unique: str, limit: int
) -> Any:
    dests = [destination(registry.host, "myapp", unique, "1")]
    return push_by_export(
        daemon,
        f"local/{unique}:1",
        dests,
        engine,
        Progress(),
        lambda: None,
        {},
        ("small", BlobLimit(limit, "the test's limit")),
    )


def test_export_refuses_a_layer_at_the_limit_before_sending_any_layer(
    engine: CopyEngine, daemon: DaemonSource, image: Any, vendor_registry: Registry, unique: str
) -> None:
    with pytest.raises(RejectedError) as caught:
        _push(engine, daemon, vendor_registry, unique, 200 * KiB)
    detail = caught.value.detail
    assert "is not sent to small: the test's limit" in detail, detail
    digest = detail.split("layer ", 1)[1].split(" ", 1)[0]
    assert digest.startswith("sha256:")
    # Nothing was written: not the refused layer, nor the small one exported before it.
    repository = f"myapp/{unique}"
    assert vendor_read(vendor_registry.url, repository, "manifests/1").status_code == 404
    assert (
        vendor_read(vendor_registry.url, repository, f"blobs/{digest}", "HEAD").status_code == 404
    )
    assert vendor_read(vendor_registry.url, repository, "tags/list").status_code == 404


def test_export_counts_a_layer_near_the_limit_and_sends_it_when_under(
    engine: CopyEngine, daemon: DaemonSource, image: Any, vendor_registry: Registry, unique: str
) -> None:
    limit = 320 * KiB  # over the layer's gzip, under its bound: counted, then sent
    assert gzip_bound(BIG) >= limit
    result = _push(engine, daemon, vendor_registry, unique, limit)
    served = vendor_read(vendor_registry.url, f"myapp/{unique}", "manifests/1")
    assert served.headers["Docker-Content-Digest"] == result.digest
    sizes = [layer["size"] for layer in served.json()["layers"]]
    assert BIG < max(sizes) < limit


def test_docker_push_path_refuses_by_the_uncompressed_size(
    daemon: DaemonSource, image: Any, unique: str
) -> None:
    name = f"local/{unique}:1"
    with pytest.raises(RejectedError) as caught:
        check_before_docker_push(daemon, image, name, "small", BlobLimit(BIG, "the test's limit"))
    assert f"holds {BIG} bytes" in caught.value.detail
    assert (
        "not sent to small" in caught.value.detail and "PUSHGATE_DAEMON_PUSH" in caught.value.detail
    )
    check_before_docker_push(daemon, image, name, "small", BlobLimit(BIG + 1, "the test's limit"))
    check_before_docker_push(daemon, image, name, "small", None)


def test_a_daemon_plan_holds_each_push_path_to_the_limit_its_own_way(
    engine: CopyEngine, daemon: DaemonSource, image: Any, settings: Settings, unique: str
) -> None:
    """The export path counts a layer near the limit (the plan says it may reach it, until a
    push has counted it); docker push refuses by the size before compression (so the plan
    refuses too)."""
    settings = dataclasses.replace(settings, daemon_sources=True)
    request = PushRequest(source=f"docker-daemon:local/{unique}:1", app_slug="myapp")
    job = plan_job(request, settings, owner="t", targets=load_targets(settings))
    job.results[0] = dataclasses.replace(job.results[0], layer_limit=200 * KiB)
    cache: dict[str, str] = {}
    by_export = plan_daemon_push(daemon, engine, cache, job, lambda: None)
    [limit] = by_export["destinations"][0]["limits"]
    assert by_export["allowed"] and "may reach" in limit["detail"], by_export
    by_sdk = plan_daemon_push(daemon, engine, cache, job, lambda: None, by_docker_push=True)
    [limit] = by_sdk["destinations"][0]["limits"]
    assert not by_sdk["allowed"] and f"holds {BIG} bytes" in limit["detail"], by_sdk
    assert [v["rule"] for v in by_sdk["verdicts"] if not v["allowed"]] == ["vendor-layer-size"]
