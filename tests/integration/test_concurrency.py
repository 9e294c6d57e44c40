"""Many jobs in one worker process (threads pool): each keeps its own cancel, retries and
outcome; a killed process loses none; a re-push touches no blob."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator

import pytest
import redis

from tests.support.images import ImageBuilder, Pushed
from tests.support.proxy import Faults, RegistryProxy
from tests.support.proxy_faults import UploadGate, repository_of
from tests.support.pushgate import Service, launch, redis_db
from tests.support.services import RedisServer, Registry
from worker.jobs.keys import RUNNING_KEY

KiB = 1024
JOBS = 8


@pytest.fixture
def gate() -> UploadGate:
    return UploadGate()


@pytest.fixture
def front(vendor_registry: Registry, gate: UploadGate) -> Iterator[RegistryProxy]:
    """The vendor behind the fault proxy, with the upload gate as its plan."""
    proxy = RegistryProxy(vendor_registry.port, faults=Faults(plan=gate))
    yield proxy
    proxy.stop()


@pytest.fixture
def threaded(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    front: RegistryProxy,
) -> Iterator[Service]:
    """One worker process running up to eight jobs at once (threads pool)."""
    svc = launch(
        tmp_path_factory.mktemp("threaded"),
        redis_db(redis_server),
        source_registry.host,
        front.host,
        concurrency=JOBS,
        PUSHGATE_HEARTBEAT_TIMEOUT="3",
        PUSHGATE_RECONCILE_INTERVAL="1",
    )
    yield svc
    svc.stop()


def _images(
    builder: ImageBuilder, registry: Registry, unique: str
) -> list[tuple[str, str, Pushed]]:
    """Eight distinct small images: (source reference, target repository name, image)."""
    out = []
    for n in range(JOBS):
        image = builder.image(f"acme/{unique}-{n}", "1", [64 * KiB, KiB])
        out.append((f"{registry.host}/acme/{unique}-{n}:1", f"{unique}-{n}", image))
    return out


def _wait_beats(svc: Service, job_id: str, beats: int, timeout: float = 60) -> None:
    """Wait until the job's monitor has beaten `beats` more times: it has then also read the
    job's cancel flag as it stood after the first of them."""
    client = redis.Redis.from_url(svc.env["PUSHGATE_REDIS_URL"])
    seen = [client.zscore(RUNNING_KEY, job_id)]
    give_up = time.monotonic() + timeout
    while len(seen) <= beats:
        assert time.monotonic() < give_up, f"job {job_id} stopped beating"
        now = client.zscore(RUNNING_KEY, job_id)
        if now != seen[-1]:
            seen.append(now)
        time.sleep(0.05)
    client.close()


def _submit_all(svc: Service, images: list[tuple[str, str, Pushed]]) -> list[str]:
    return [svc.submit(source=src, app_slug="myapp", target=target) for src, target, _ in images]


def test_eight_jobs_at_once_one_cancelled_the_other_seven_succeed(
    threaded: Service,
    gate: UploadGate,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    images = _images(source_images, source_registry, unique)
    ids = _submit_all(threaded, images)
    # Every job is mid-upload at the same time, in one worker process.
    gate.wait_held({f"myapp/{target}" for _, target, _ in images})
    victim = 3
    assert threaded.call("POST", f"/v1/pushes/{ids[victim]}/cancel").status_code == 202
    _wait_beats(threaded, ids[victim], 2)  # its monitor has seen the cancel
    gate.open()
    for n, job_id in enumerate(ids):
        job = threaded.wait_for(job_id)
        if n == victim:
            assert job["status"] == "cancelled", job
            assert job["error"]["type"] == "cancelled"
        else:
            assert job["status"] == "succeeded", job
            assert job["digest"] == images[n][2].digest


def test_sigkill_during_eight_jobs_then_a_new_worker_finishes_each_once(
    threaded: Service,
    gate: UploadGate,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    images = _images(source_images, source_registry, unique)
    ids = _submit_all(threaded, images)
    gate.wait_held({f"myapp/{target}" for _, target, _ in images})
    threaded.workers[0].stop(signal.SIGKILL)  # the whole process, every job in it
    gate.open()
    for job_id in ids:
        assert threaded.call("GET", f"/v1/pushes/{job_id}").json()["status"] == "running"
    threaded.start_worker("replacement")
    for (_, _, image), job_id in zip(images, ids, strict=True):
        job = threaded.wait_for(job_id, timeout=180)
        assert job["status"] == "succeeded", job
        assert job["digest"] == image.digest
        assert job["attempts"] >= 2
    logs = threaded.logs()
    for job_id in ids:  # each ran to completion exactly once, across both workers
        assert len(re.findall(rf"push job {job_id} succeeded", logs)) == 1, job_id


def test_concurrent_jobs_each_report_their_own_retries(
    threaded: Service,
    front: RegistryProxy,
    gate: UploadGate,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    images = _images(source_images, source_registry, unique)
    faults_for = {f"myapp/{target}": n % 3 for n, (_, target, _) in enumerate(images)}

    def plan(method: str, path: str, nth: int) -> str | None:
        gate(method, path, nth)
        if method == "PUT" and "/manifests/" in path and nth <= faults_for[repository_of(path)]:
            return "503"  # the first n manifest PUTs of job n % 3 fail
        return None

    front.faults.plan = plan
    ids = _submit_all(threaded, images)
    gate.wait_held(set(faults_for))  # all eight run at once before any fault
    gate.open()
    jobs = [threaded.wait_for(job_id) for job_id in ids]
    assert all(job["status"] == "succeeded" for job in jobs), jobs
    assert [job["retries"] for job in jobs] == [n % 3 for n in range(JOBS)]
    assert sum(job["retries"] for job in jobs) == front.stats.injected["503"]


def test_a_re_push_makes_no_blob_request(
    threaded: Service,
    front: RegistryProxy,
    gate: UploadGate,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    gate.open()
    image = source_images.image(f"acme/{unique}", "1", [64 * KiB, KiB])
    body = {"source": f"{source_registry.host}/acme/{unique}:1", "app_slug": "myapp", "tag": "v1"}
    first = threaded.push(**body)
    assert first["status"] == "succeeded", first
    seen = len(front.stats.forwarded)
    again = threaded.push(**body)
    assert again["status"] == "succeeded" and again["digest"] == image.digest, again
    with front.stats.lock:
        during = front.stats.forwarded[seen:]
    assert [e for e in during if "/blobs/" in e.path] == []
    manifests = [(e.method, e.path) for e in during if "/manifests/" in e.path]
    # The tag is asked, and (alongside it, for a possible tag promotion) the digest: no writes.
    tag_head = ("HEAD", f"/v2/myapp/{unique}/manifests/v1")
    digest_head = ("HEAD", f"/v2/myapp/{unique}/manifests/{image.digest}")
    assert tag_head in manifests and set(manifests) <= {tag_head, digest_head}, manifests
    assert again["served"] == {f"{front.host}/myapp/{unique}:v1": image.digest}
