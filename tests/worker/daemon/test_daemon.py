"""Daemon images pushed to the token-auth vendor stand-in: the export path and the SDK path."""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import docker
import pytest

from tests.support.accounts import SA_TOKEN
from tests.support.daemon_images import build_scratch_image
from tests.support.services import Registry, free_port
from tests.support.vendor import vendor_read
from worker.daemon.export import push_by_export
from worker.daemon.source import DaemonSource, push_with_sdk
from worker.errors import AuthError, NetworkError, NotFoundError
from worker.reference import destination
from worker.registry.copier import CopyEngine
from worker.registry.progress import Progress

KiB = 1024


@pytest.fixture
def image(docker_client: docker.DockerClient, unique: str) -> Iterator[Any]:
    built = build_scratch_image(docker_client, f"local/{unique}:1", [300 * KiB, 40 * KiB, 5])
    yield built
    docker_client.images.remove(built.id, force=True)


def local_tags(client: docker.DockerClient, image: Any) -> list[str]:
    return sorted(client.images.get(image.id).tags)


def test_export_path_pushes_layers_the_registry_serves_back_intact(
    engine: CopyEngine,
    daemon: DaemonSource,
    image: Any,
    vendor_registry: Registry,
    docker_client: docker.DockerClient,
    unique: str,
) -> None:
    dests = [destination(vendor_registry.host, "myapp", unique, t) for t in ("1", "latest")]
    cache: dict[str, str] = {}
    progress = Progress()
    result = push_by_export(
        daemon, f"local/{unique}:1", dests, engine, progress, lambda: None, cache
    )
    served = vendor_read(vendor_registry.url, f"myapp/{unique}", "manifests/1")
    assert served.headers["Docker-Content-Digest"] == result.digest
    assert set(result.served.values()) == {result.digest}
    manifest = served.json()
    assert manifest["config"]["digest"] == image.id  # the daemon's own config, unchanged
    config = vendor_read(
        vendor_registry.url, f"myapp/{unique}", f"blobs/{manifest['config']['digest']}"
    ).json()
    for layer, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"], strict=True):
        path = f"blobs/{layer['digest']}"
        blob = vendor_read(vendor_registry.url, f"myapp/{unique}", path).content
        assert "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest() == diff_id
    assert progress.blobs_done == progress.blobs_total == 3
    assert local_tags(docker_client, image) == [f"local/{unique}:1"]  # nothing tagged
    again = Progress()
    repeat = push_by_export(daemon, f"local/{unique}:1", dests, engine, again, lambda: None, cache)
    assert repeat.digest == result.digest and again.blobs_skipped == 3


def test_sdk_path_pushes_through_the_daemon_and_leaves_no_tag(
    engine: CopyEngine,
    daemon: DaemonSource,
    image: Any,
    vendor_registry: Registry,
    docker_client: docker.DockerClient,
    unique: str,
) -> None:
    dests = [destination(vendor_registry.host, "myapp", unique, t) for t in ("1", "2")]
    progress = Progress()
    result = push_with_sdk(
        daemon,
        f"local/{unique}:1",
        dests,
        engine,
        engine.target_credentials,
        progress,
        lambda: None,
    )
    served = vendor_read(vendor_registry.url, f"myapp/{unique}", "manifests/2")
    assert served.headers["Docker-Content-Digest"] == result.digest
    assert progress.blobs_done == 3 and progress.bytes_done > 300 * KiB
    assert local_tags(docker_client, image) == [f"local/{unique}:1"]


def test_sdk_path_auth_failure_is_typed_and_leaves_no_tag(
    engine: CopyEngine,
    daemon: DaemonSource,
    image: Any,
    vendor_registry: Registry,
    docker_client: docker.DockerClient,
    unique: str,
) -> None:
    with pytest.raises(AuthError) as caught:
        push_with_sdk(
            daemon,
            f"local/{unique}:1",
            [destination(vendor_registry.host, "notmine", unique, "1")],
            engine,
            engine.target_credentials,
            Progress(),
            lambda: None,
        )
    assert SA_TOKEN not in str(caught.value)
    assert local_tags(docker_client, image) == [f"local/{unique}:1"]


def test_export_path_auth_failure_is_typed(
    engine: CopyEngine, daemon: DaemonSource, image: Any, vendor_registry: Registry, unique: str
) -> None:
    with pytest.raises(AuthError):
        push_by_export(
            daemon,
            f"local/{unique}:1",
            [destination(vendor_registry.host, "notmine", unique, "1")],
            engine,
            Progress(),
            lambda: None,
            {},
        )


@pytest.mark.parametrize("path", ["export", "sdk"])
def test_image_not_in_daemon_is_not_found(
    engine: CopyEngine, daemon: DaemonSource, vendor_registry: Registry, unique: str, path: str
) -> None:
    dests = [destination(vendor_registry.host, "myapp", unique, "1")]
    with pytest.raises(NotFoundError, match="no such image in the Docker daemon"):
        if path == "export":
            push_by_export(
                daemon, f"local/{unique}:nope", dests, engine, Progress(), lambda: None, {}
            )
        else:
            push_with_sdk(
                daemon,
                f"local/{unique}:nope",
                dests,
                engine,
                engine.target_credentials,
                Progress(),
                lambda: None,
            )


def test_daemon_that_is_down_is_network_naming_the_socket(
    engine: CopyEngine, vendor_registry: Registry, tmp_path: Any, unique: str
) -> None:
    socket = f"unix://{tmp_path}/nobody-home.sock"
    with pytest.raises(NetworkError, match=r"nobody-home\.sock"):
        push_by_export(
            DaemonSource(socket),
            "local/x:1",
            [destination(vendor_registry.host, "myapp", unique, "1")],
            engine,
            Progress(),
            lambda: None,
            {},
        )
    port = free_port()
    with pytest.raises(
        NetworkError, match=rf"cannot reach the Docker daemon at tcp://127\.0\.0\.1:{port}\b"
    ):
        DaemonSource(f"tcp://127.0.0.1:{port}").client()


def test_two_jobs_pushing_one_image_to_one_tag_do_not_disturb_each_other(
    make_engine: Callable[..., CopyEngine],
    daemon: DaemonSource,
    image: Any,
    vendor_registry: Registry,
    docker_client: docker.DockerClient,
    unique: str,
) -> None:
    locks: dict[str, threading.Lock] = {}
    guard = threading.Lock()

    def tag_lock(name: str) -> AbstractContextManager[Any]:
        with guard:
            return locks.setdefault(name, threading.Lock())

    dests = [destination(vendor_registry.host, "myapp", unique, "shared")]
    engines = [make_engine(), make_engine()]
    results: list[Any] = []
    errors: list[BaseException] = []

    def push(engine: CopyEngine) -> None:
        try:
            results.append(
                push_with_sdk(
                    daemon,
                    f"local/{unique}:1",
                    dests,
                    engine,
                    engine.target_credentials,
                    Progress(),
                    lambda: None,
                    tag_lock,
                )
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({r.digest for r in results}) == 1 and len(results) == 2
    assert local_tags(docker_client, image) == [f"local/{unique}:1"]
