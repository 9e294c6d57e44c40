"""Signatures and SBOMs travel with the image, through the job runner on real Redis and real
registries: a Basic-only distribution target (fallback index), a target behind a proxy that
serves the referrers API, the vendor stand-in with its defaults, racing pushes, a GitLab-like
source, and the `require` policy refusing before anything is written."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.accounts import BASIC_PASSWORD, BASIC_USER
from tests.support.images import ImageBuilder, multi_platform
from tests.support.services import Registry
from tests.support.signed_stack import Targets, push
from tests.support.signing import (
    SPDX,
    SigningKey,
    attach_sbom,
    fallback_tag,
    sign_with_tag,
    signed_image,
)
from tests.support.vendor import vendor_read
from worker.jobs.model import Job, JobStatus
from worker.jobs.runner import JobRunner
from worker.settings import Settings


def test_basic_target_gets_everything_byte_for_byte_and_a_fallback_index(
    signed_targets: Targets,
    make_runner: Callable[[Settings], JobRunner],
    source_images: ImageBuilder,
    source_registry: Registry,
    tmp_path: Path,
    unique: str,
) -> None:
    key = SigningKey.make(tmp_path, "release.pub")
    signed = signed_image(source_images, f"acme/{unique}", "1", key)
    runner = make_runner(signed_targets.settings)
    job = push(runner, f"{source_registry.host}/acme/{unique}:1", ["basic"])
    assert job.status is JobStatus.SUCCEEDED, job.error
    repository = f"myapp/{unique}"
    for pushed in (signed.signature, signed.sbom, signed.sbom_signature):
        assert signed_targets.get(repository, pushed.digest) == pushed.raw
    assert [(c["digest"], c["kind"], c["subject"]) for c in job.results[0].carried] == [
        (signed.sbom.digest, SPDX, signed.image.digest),
        (signed.signature.digest, "cosign sig", signed.image.digest),
        (signed.sbom_signature.digest, "cosign sig", signed.sbom.digest),
    ]
    index = json.loads(signed_targets.get(repository, fallback_tag(signed.image.digest)))
    assert [(e["digest"], e["artifactType"]) for e in index["manifests"]] == [
        (signed.sbom.digest, SPDX)
    ]
    again = push(runner, f"{source_registry.host}/acme/{unique}:1", ["basic"], tag="2")
    assert again.status is JobStatus.SUCCEEDED, again.error
    index = json.loads(signed_targets.get(repository, fallback_tag(signed.image.digest)))
    assert [e["digest"] for e in index["manifests"]] == [signed.sbom.digest]  # once
    written = signed_targets.basic.logged_requests(f"/v2/{repository}/manifests/")
    assert f"PUT /v2/{repository}/manifests/{fallback_tag(signed.image.digest)}" in written
    # Each after its subject (the first push's writes come first in the log).
    puts = [r.split("/manifests/")[1] for r in written if r.startswith("PUT ")]
    image_put, sbom_put = puts.index("1"), puts.index(signed.sbom.digest)
    assert image_put < puts.index(f"{fallback_tag(signed.image.digest)}.sig")
    assert image_put < sbom_put < puts.index(f"{fallback_tag(signed.sbom.digest)}.sig")
    assert sbom_put < puts.index(fallback_tag(signed.image.digest))
    # The attachments' blobs went up with the image's: after its manifest, only manifests.
    logged = signed_targets.basic.logged_requests(f"/v2/{repository}/")
    after = logged[logged.index(f"PUT /v2/{repository}/manifests/1") :]
    assert [r for r in after if "/blobs/" in r and not r.startswith("HEAD ")] == []


def test_referrers_api_target_lists_the_sbom_without_a_fallback_tag(
    signed_targets: Targets,
    make_runner: Callable[[Settings], JobRunner],
    source_images: ImageBuilder,
    source_registry: Registry,
    tmp_path: Path,
    unique: str,
) -> None:
    key = SigningKey.make(tmp_path, "release.pub", "ed25519")
    signed = signed_image(source_images, f"acme/{unique}", "1", key)
    job = push(
        make_runner(signed_targets.settings), f"{source_registry.host}/acme/{unique}:1", ["refapi"]
    )
    assert job.status is JobStatus.SUCCEEDED, job.error
    listed = httpx.get(
        f"http://{signed_targets.refapi.host}/v2/myapp/{unique}/referrers/{signed.image.digest}",
        auth=(BASIC_USER, BASIC_PASSWORD),
    ).json()
    assert [(e["digest"], e["artifactType"]) for e in listed["manifests"]] == [
        (signed.sbom.digest, SPDX)
    ]
    written = [p for m, p, _ in signed_targets.refapi.stats.answered if m == "PUT"]
    assert not any(p.endswith(fallback_tag(signed.image.digest)) for p in written)
    assert len(job.results[0].carried) == 3


def test_vendor_default_writes_nothing_attached_and_says_what_it_skipped(
    settings: Settings,
    make_runner: Callable[[Settings], JobRunner],
    source_images: ImageBuilder,
    source_registry: Registry,
    vendor_registry: Registry,
    tmp_path: Path,
    unique: str,
) -> None:
    key = SigningKey.make(tmp_path, "release.pub")
    signed = signed_image(source_images, f"acme/{unique}", "1", key)
    job = push(make_runner(settings), f"{source_registry.host}/acme/{unique}:1", [])
    assert job.status is JobStatus.SUCCEEDED, job.error
    result = job.results[0]
    assert (result.target, result.referrers, result.carried) == ("replicated", "skip", [])
    assert {s["digest"] for s in result.skipped} == {
        signed.sbom.digest,
        signed.signature.digest,
        signed.sbom_signature.digest,
    }
    tags = vendor_read(vendor_registry.url, f"myapp/{unique}", "tags/list").json()["tags"]
    assert tags == ["1"]
    for pushed in (signed.signature, signed.sbom):
        gone = vendor_read(vendor_registry.url, f"myapp/{unique}", f"manifests/{pushed.digest}")
        assert gone.status_code == 404


def test_stripped_index_leaves_its_own_signature_behind_and_carries_the_childrens(
    signed_targets: Targets,
    make_runner: Callable[[Settings], JobRunner],
    source_images: ImageBuilder,
    source_registry: Registry,
    tmp_path: Path,
    unique: str,
) -> None:
    key = SigningKey.make(tmp_path, "release.pub")
    repository = f"acme/{unique}"
    index, children = multi_platform(source_images, repository, "1", [512], attestations="classic")
    on_index = sign_with_tag(source_images, repository, index.digest, key)
    on_children = [sign_with_tag(source_images, repository, c.digest, key) for c in children]
    job = push(
        make_runner(signed_targets.settings), f"{source_registry.host}/{repository}:1", ["basic"]
    )
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.digest != index.digest  # the attestations were stripped
    result = job.results[0]
    assert [b["digest"] for b in result.left_behind] == [on_index.digest]
    assert {c["digest"] for c in result.carried} == {s.digest for s in on_children}
    assert signed_targets.get(f"myapp/{unique}", on_index.digest) == b""


def test_racing_pushes_keep_both_entries_in_the_fallback_index(
    signed_targets: Targets,
    make_runner: Callable[[Settings], JobRunner],
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    # The same image in two source repositories, each with an SBOM of its own; both pushes
    # go to one target repository, so both update the one fallback index at once.
    image = source_images.image(f"acme/{unique}", "1", [1024])
    layers = json.loads(image.raw)
    for blob in [layers["config"], *layers["layers"]]:
        data = httpx.get(f"{source_registry.url}/v2/acme/{unique}/blobs/{blob['digest']}").content
        source_images.push_blob(f"acme2/{unique}", data)
    source_images.push_manifest(f"acme2/{unique}", "1", layers, image.media_type)
    sboms = [attach_sbom(source_images, f"{org}/{unique}", image) for org in ("acme", "acme2")]
    runners = [make_runner(signed_targets.settings) for _ in range(2)]
    barrier = threading.Barrier(2)
    jobs: list[Job] = []

    def run(n: int, org: str) -> None:
        barrier.wait()
        source = f"{source_registry.host}/{org}/{unique}:1"
        jobs.append(push(runners[n], source, ["basic"], image=unique))

    threads = [threading.Thread(target=run, args=(n, o)) for n, o in enumerate(("acme", "acme2"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [j.status for j in jobs] == [JobStatus.SUCCEEDED] * 2, [j.error for j in jobs]
    index = json.loads(signed_targets.get(f"myapp/{unique}", fallback_tag(image.digest)))
    assert sorted(e["digest"] for e in index["manifests"]) == sorted(s.digest for s in sboms)


def test_gitlab_like_source_gives_no_bogus_referrers(
    signed_targets: Targets,
    make_runner: Callable[[Settings], JobRunner],
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    image = source_images.image(f"acme/{unique}", "1", [512])
    source_images.push_manifest(
        f"acme/{unique}", fallback_tag(image.digest), json.loads(image.raw), image.media_type
    )
    job = push(
        make_runner(signed_targets.settings), f"{source_registry.host}/acme/{unique}:1", ["basic"]
    )
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.results[0].carried == []
    assert signed_targets.get(f"myapp/{unique}", fallback_tag(image.digest)) == b""


def test_require_refuses_an_unsigned_image_before_any_write(
    signed_targets: Targets,
    make_runner: Callable[[Settings], JobRunner],
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    image = source_images.image(f"acme/{unique}", "1", [512])
    attach_sbom(source_images, f"acme/{unique}", image)  # attached, but no signature
    source = f"{source_registry.host}/acme/{unique}:1"
    job = push(make_runner(signed_targets.settings), source, ["basic"], referrers="require")
    assert job.status is JobStatus.FAILED and job.error is not None
    assert job.error.type == "rejected"
    assert f"the source has none for {image.digest}" in job.error.detail
    logged = signed_targets.basic.logged_requests(f"/myapp/{unique}/")
    assert any(r.startswith("HEAD ") for r in logged)  # it was asked what the tag serves
    assert signed_targets.writes(f"myapp/{unique}") == []
