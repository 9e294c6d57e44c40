"""POST /v1/plans through the whole service: a worker plans with HEAD and GET only (the proxy in
front of the vendor stand-in is the target's log), and the push that follows does what the plan
said: the bytes sent, the blobs skipped and mounted."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.demo_stack.layers import random_gzip_layer
from tests.support.cli import cli_env, run_cli
from tests.support.images import ImageBuilder, multi_platform
from tests.support.proxy import RegistryProxy
from tests.support.pushgate import API_KEY, Service, launch, redis_db
from tests.support.services import RedisServer, Registry

KiB = 1024
WRITES = ("POST", "PUT", "PATCH", "DELETE")
NARROW_KEY = "narrow-key-0d3f"
NARROW = {"Authorization": f"Bearer {NARROW_KEY}"}


@pytest.fixture(scope="module")
def front(vendor_registry: Registry) -> Iterator[RegistryProxy]:
    """The vendor stand-in behind a proxy that records every request (the target's log)."""
    proxy = RegistryProxy(vendor_registry.port)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def planner(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    front: RegistryProxy,
) -> Iterator[Service]:
    """gunicorn and one worker pushing to the vendor stand-in through `front`; a second key
    may push to app `other` only."""
    narrow = {
        "name": "narrow",
        "app_slugs": ["other"],
        "key_sha256": hashlib.sha256(NARROW_KEY.encode()).hexdigest(),
    }
    svc = launch(
        tmp_path_factory.mktemp("plans"),
        redis_db(redis_server),
        source_registry.host,
        front.host,
        extra_keys=[narrow],
    )
    yield svc
    svc.stop()


def plan(svc: Service, headers: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
    """POST /v1/plans; it must answer 200."""
    response = svc.call("POST", "/v1/plans", json=body, headers=headers or {})
    assert response.status_code == 200, response.text
    return dict(response.json())


def writes(front: RegistryProxy, fragment: str) -> list[str]:
    """Writing requests the target saw for repositories named with `fragment`."""
    return [f"{m} {e.path}" for m in WRITES for e in front.stats.exchanges(m, fragment)]


def blob_bytes(front: RegistryProxy, fragment: str) -> int:
    """Bytes the target received into blob uploads for `fragment` (manifests excluded)."""
    return sum(
        int(e.request_headers.get("Content-Length") or 0)
        for m in ("PUT", "PATCH")
        for e in front.stats.exchanges(m, fragment)
        if "/blobs/uploads/" in e.path
    )


def test_cold_then_warm_plans_match_what_the_push_does(
    planner: Service,
    front: RegistryProxy,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    image = source_images.image(f"acme/{unique}", "1", [40 * KiB, 8 * KiB])
    body = {"source": f"{source_registry.host}/acme/{unique}:1", "app_slug": "myapp"}
    cold = plan(planner, **body, extra_tags=["latest"])
    assert writes(front, unique) == []
    assert front.stats.exchanges("HEAD", unique)  # it did ask the target
    assert cold["allowed"] is True and cold["digest"] == image.digest
    [dest] = cold["destinations"]
    assert dest["target"] == "replicated" and dest["error"] is None
    assert [t["state"] for t in dest["tags"]] == ["new", "new"]
    assert [m["digest"] for m in dest["manifests"]] == [image.digest]
    sizes = [layer["size"] for layer in image.layers]
    assert dest["blobs"]["to_send"] == 3 and dest["blobs"]["present"] == 0
    assert dest["blobs"]["bytes_to_send"] > sum(sizes)  # the layers and the config
    assert {v["rule"]: v["allowed"] for v in cold["verdicts"]} == {
        "key.app_slugs": True,
        "key.targets": True,
        "app": True,  # no apps file: every app may do what its key allows
    }
    job = planner.push(**body, extra_tags=["latest"])
    assert job["status"] == "succeeded", job
    assert blob_bytes(front, unique) == dest["blobs"]["bytes_to_send"]
    assert job["progress"]["blobs_skipped"] == dest["blobs"]["present"]
    before = len(writes(front, unique))
    warm = plan(planner, **body, extra_tags=["latest"])
    assert len(writes(front, unique)) == before
    [dest] = warm["destinations"]
    assert [t["state"] for t in dest["tags"]] == ["unchanged", "unchanged"]
    assert {(t["from"], t["to"]) for t in dest["tags"]} == {(image.digest, image.digest)}
    assert dest["manifests"] == [] and dest["blobs"]["bytes_to_send"] == 0
    assert dest["blobs"]["present"] == 3


def test_a_mount_is_planned_and_then_made(
    planner: Service,
    front: RegistryProxy,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    shared, _ = random_gzip_layer(64 * KiB)
    source_images.image(f"acme/{unique}a", "1", [], layers=[shared])
    first = planner.push(source=f"{source_registry.host}/acme/{unique}a:1", app_slug="myapp")
    assert first["status"] == "succeeded", first
    source_images.image(f"acme/{unique}b", "1", [4 * KiB], layers=[shared])
    body = {"source": f"{source_registry.host}/acme/{unique}b:1", "app_slug": "myapp"}
    planned = plan(planner, **body)
    assert writes(front, f"{unique}b") == []
    [dest] = planned["destinations"]
    [mountable] = [b for b in dest["blobs"]["items"] if b["state"] == "mountable"]
    assert mountable["mount_from"] == f"myapp/{unique}a" and mountable["size"] == len(shared)
    job = planner.push(**body)
    assert job["status"] == "succeeded", job
    assert job["progress"]["blobs_mounted"] == dest["blobs"]["mountable"] == 1
    assert blob_bytes(front, f"{unique}b") == dest["blobs"]["bytes_to_send"]


def test_a_multi_platform_plan_names_platforms_and_what_is_stripped(
    planner: Service,
    front: RegistryProxy,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    index, images = multi_platform(source_images, f"acme/{unique}", "1", [KiB], attestations="x")
    source = f"{source_registry.host}/acme/{unique}:1"
    planned = plan(planner, source=source, app_slug="myapp", platforms=["linux/arm64"])
    assert writes(front, unique) == []
    assert planned["source_digest"] == index.digest and planned["digest"] != index.digest
    reasons = sorted(r["reason"] for r in planned["removed"])
    assert reasons == ["attestation stripped"] * 2 + ["platform linux/amd64 not selected"]
    [dest] = planned["destinations"]
    assert [m["platform"] for m in dest["manifests"]] == ["linux/arm64/v8", None]
    assert dest["manifests"][0]["digest"] == images[1].digest
    refused = plan(planner, source=source, app_slug="myapp", attestations="fail")
    assert refused["allowed"] is False
    [rule] = [v for v in refused["verdicts"] if not v["allowed"]]
    assert rule["policy"] == "attestations" and 'attestations: "fail"' in rule["detail"]


def test_a_key_refusal_reads_nothing_and_bad_requests_are_422(
    planner: Service,
    front: RegistryProxy,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    source_images.image(f"acme/{unique}", "1", [KiB])
    source = f"{source_registry.host}/acme/{unique}:1"
    refused = plan(planner, NARROW, source=source, app_slug="myapp")
    assert refused["allowed"] is False and refused["destinations"] == []
    [rule] = [v for v in refused["verdicts"] if not v["allowed"]]
    assert rule == {**rule, "policy": "key", "rule": "key.app_slugs"}
    assert (
        front.stats.exchanges("HEAD", unique) == [] and front.stats.exchanges("GET", unique) == []
    )
    bad = planner.call("POST", "/v1/plans", json={"source": "nope::", "app_slug": "myapp"})
    assert bad.status_code == 422 and "source" in bad.json()["errors"]
    missing = plan(planner, source=f"{source_registry.host}/acme/{unique}:nope", app_slug="myapp")
    assert missing["allowed"] is False and missing["error"]["type"] == "not_found"


def test_a_plan_slower_than_its_wait_is_a_504_with_what_was_learned(
    tmp_path: Path,
    redis_server: RedisServer,
    source_registry: Registry,
    front: RegistryProxy,
    source_images: ImageBuilder,
    unique: str,
) -> None:
    svc = launch(tmp_path, redis_db(redis_server), source_registry.host, front.host, workers=0)
    try:
        source_images.image(f"acme/{unique}", "1", [KiB])
        body = {"source": f"{source_registry.host}/acme/{unique}:1", "app_slug": "myapp"}
        response = svc.call("POST", "/v1/plans?wait=1", json=body)
        assert response.status_code == 504, response.text
        problem = response.json()
        assert problem["type"].endswith("/plan-timeout") and "1 s" in problem["detail"]
        assert problem["learned"]["destinations"] == [] and problem["learned"]["source"]
    finally:
        svc.stop()


def test_the_cli_dry_run_prints_the_plan_and_exits_with_its_verdict(
    planner: Service,
    front: RegistryProxy,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    source_images.image(f"acme/{unique}", "1", [KiB])
    source = f"{source_registry.host}/acme/{unique}:1"
    env = cli_env(planner.url, API_KEY)
    table = run_cli(["push", source, "--app", "myapp", "--dry-run"], env)
    assert table.returncode == 0, table.stderr
    head, columns, row = table.stdout.splitlines()[:3]
    assert head.startswith(f"plan of {source} (sha256:") and "allowed: " in head
    assert columns.split() == ["TARGET", "REPOSITORY", "TAGS", "THERE", "MOUNT", "SEND", "BYTES"]
    assert row.split()[:6] == ["replicated", f"{front.host}/myapp/{unique}", "1", "new", "0", "0"]
    document = run_cli(["push", source, "--app", "myapp", "--dry-run", "--output", "json"], env)
    assert document.returncode == 0 and json.loads(document.stdout)["allowed"] is True
    refused = run_cli(
        ["push", source, "--app", "myapp", "--dry-run"], cli_env(planner.url, NARROW_KEY)
    )
    assert refused.returncode == 4 and refused.stdout.startswith(f"plan of {source}")
    assert "REFUSED: key.app_slugs" in refused.stdout
    bad = run_cli(["push", "nope::", "--app", "myapp", "--dry-run"], env)
    assert bad.returncode == 2, bad.stderr
    assert writes(front, unique) == []


def test_a_layer_over_the_vendor_limit_is_flagged_and_refused_before_any_byte(
    planner: Service,
    front: RegistryProxy,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    # The manifest says the layer is 1.9 GB (the registry checks blobs exist, not their size):
    # a plan and a push read sizes from manifests, and neither may reach the layer's bytes.
    image = source_images.image(f"acme/{unique}", "small", [KiB])
    body = json.loads(image.raw)
    body["layers"][0]["size"] = 1_900_000_000
    huge = source_images.push_manifest(f"acme/{unique}", "huge", body, image.media_type)
    source = f"{source_registry.host}/acme/{unique}:huge"
    planned = plan(planner, source=source, app_slug="myapp")
    assert planned["allowed"] is False and planned["digest"] == huge.digest
    [limit] = [v for v in planned["verdicts"] if not v["allowed"]]
    assert limit["rule"] == "vendor-layer-size"
    assert f"layer {body['layers'][0]['digest']} is 1900000000 bytes" in limit["detail"]
    assert planned["destinations"][0]["limits"][0]["detail"] == limit["detail"]
    job = planner.push(source=source, app_slug="myapp")
    assert job["status"] == "failed" and job["error"]["type"] == "rejected", job
    assert limit["detail"] in job["error"]["detail"]
    assert writes(front, unique) == []  # not one byte, not even an upload session
