"""Only verified images ship: an app whose apps-file entry has `verify` gets its images pushed
only when a signature by one of its keys names the digest; otherwise the job is `rejected`
before anything is written (the target registry's own access log shows no write), and the
verification is on the job and in the audit trail."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.images import ImageBuilder, multi_platform
from tests.support.services import Registry
from tests.support.signed_stack import Targets, push
from tests.support.signing import SigningKey, attach_bundle, sign_with_tag
from worker.jobs.model import Job, JobStatus
from worker.jobs.runner import JobRunner
from worker.settings import Settings


def _verifying(targets: Targets, folder: Path, cover: str = "either") -> Settings:
    """The targets' settings with an apps file: myapp needs a signature by keys/release.pub."""
    (folder / "apps.yaml").write_text(
        "- app: myapp\n"
        '  sources: ["**"]\n'
        "  targets: [basic, refapi, replicated]\n"
        f"  verify: {{keys: [keys/release.pub], cover: {cover}}}\n"
    )
    return dataclasses.replace(targets.settings, apps_file=folder / "apps.yaml")


def _audit(runner: JobRunner, job: Job) -> list[dict[str, object]]:
    events = runner.store.audit_log().page("myapp", None, None, 1000).items
    return [e for e in events if e.get("job_id") == job.id and e.get("action") == "verify"]


@pytest.mark.parametrize("layout", ["sig tag", "bundle"])
def test_signed_by_the_listed_key_ships(
    signed_targets: Targets,
    make_runner: Callable[[Settings], JobRunner],
    source_images: ImageBuilder,
    source_registry: Registry,
    tmp_path: Path,
    unique: str,
    layout: str,
) -> None:
    key = SigningKey.make(tmp_path / "keys", "release.pub")
    image = source_images.image(f"acme/{unique}", "1", [1024])
    if layout == "sig tag":
        sign_with_tag(source_images, f"acme/{unique}", image.digest, key)
    else:
        attach_bundle(source_images, f"acme/{unique}", image, key)
    runner = make_runner(_verifying(signed_targets, tmp_path))
    job = push(runner, f"{source_registry.host}/acme/{unique}:1", ["basic"])
    assert job.status is JobStatus.SUCCEEDED, job.error
    expected = "cosign .sig tag" if layout == "sig tag" else "sigstore bundle"
    assert job.verified == [{"digest": image.digest, "key": "keys/release.pub", "layout": expected}]
    [event] = _audit(runner, job)
    assert (event["result"], event["verified"]) == ("verified", job.verified)


@pytest.mark.parametrize("case", ["unsigned", "other key", "other digest"])
def test_without_a_valid_signature_nothing_is_written(
    signed_targets: Targets,
    make_runner: Callable[[Settings], JobRunner],
    source_images: ImageBuilder,
    source_registry: Registry,
    tmp_path: Path,
    unique: str,
    case: str,
) -> None:
    key = SigningKey.make(tmp_path / "keys", "release.pub")
    other = SigningKey.make(tmp_path / "elsewhere", "release.pub")
    image = source_images.image(f"acme/{unique}", "1", [1024])
    decoy = source_images.image(f"acme/{unique}", "decoy", [64])
    if case == "other key":
        sign_with_tag(source_images, f"acme/{unique}", image.digest, other)
    elif case == "other digest":
        sign_with_tag(source_images, f"acme/{unique}", image.digest, key, names=decoy.digest)
    runner = make_runner(_verifying(signed_targets, tmp_path))
    job = push(runner, f"{source_registry.host}/acme/{unique}:1", ["basic", "refapi"])
    assert job.status is JobStatus.FAILED and job.error is not None
    assert job.error.type == "rejected"
    assert job.error.detail == f"no signature by keys/release.pub on {image.digest}"
    assert signed_targets.writes(f"myapp/{unique}") == []
    assert [
        m for m, p, _ in signed_targets.refapi.stats.answered if unique in p and m != "HEAD"
    ] == []
    [event] = _audit(runner, job)
    assert (event["result"], event["reason"]) == ("refused", job.error.detail)


def test_cover_children_needs_every_pushed_child_signed(
    signed_targets: Targets,
    make_runner: Callable[[Settings], JobRunner],
    source_images: ImageBuilder,
    source_registry: Registry,
    tmp_path: Path,
    unique: str,
) -> None:
    key = SigningKey.make(tmp_path / "keys", "release.pub", "ed25519")
    index, children = multi_platform(source_images, f"acme/{unique}", "1", [512])
    sign_with_tag(source_images, f"acme/{unique}", index.digest, key)
    sign_with_tag(source_images, f"acme/{unique}", children[0].digest, key)
    runner = make_runner(_verifying(signed_targets, tmp_path, cover="children"))
    source = f"{source_registry.host}/acme/{unique}:1"
    job = push(runner, source, ["basic"])
    assert job.error is not None
    assert job.error.detail == f"no signature by keys/release.pub on {children[1].digest}"
    assert signed_targets.writes(f"myapp/{unique}") == []
    # Only the first platform is pushed: its signature covers every pushed child.
    only = push(runner, source, ["basic"], platforms=["linux/amd64"])
    assert only.status is JobStatus.SUCCEEDED, only.error
    assert {v["digest"] for v in only.verified} == {index.digest, children[0].digest}
