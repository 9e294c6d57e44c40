"""Graceful shutdown: SIGTERM to a worker's main process (as Kubernetes sends it) hands a
running job back at once, or lets it finish within the grace period; the liveness file keeps
a worker alive through a Redis outage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.demo_stack.pushgate import ROOT, start_worker
from tests.support.images import ImageBuilder
from tests.support.proxy import Faults, RegistryProxy
from tests.support.pushgate import Service, launch, redis_db
from tests.support.services import Process, RedisServer, Registry, wait_until

MiB = 1 << 20
HEARTBEAT_TIMEOUT = 120.0  # only a hand-back can explain a resume well before this


@pytest.fixture(scope="module")
def slow_vendor(vendor_registry: Registry) -> Iterator[RegistryProxy]:
    """The vendor at 16 MiB/s, so a push is still uploading when the signal arrives."""
    proxy = RegistryProxy(vendor_registry.port, faults=Faults(bandwidth=16 * MiB))
    yield proxy
    proxy.stop()


def _service(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source: Registry,
    vendor: RegistryProxy,
    workers: int,
    grace: str,
) -> Service:
    return launch(
        tmp_path_factory.mktemp("shutdown"),
        redis_db(redis_server),
        source.host,
        vendor.host,
        workers=workers,
        PUSHGATE_HEARTBEAT_TIMEOUT=str(HEARTBEAT_TIMEOUT),
        PUSHGATE_SHUTDOWN_GRACE=grace,
    )


def _uploading(job: dict[str, object]) -> bool:
    progress = job["progress"]
    assert isinstance(progress, dict)
    return job["status"] == "running" and progress["bytes_done"] >= 8 * MiB


def _runner_of(service: Service, job_id: str, attempt: int) -> Process:
    """The worker whose log says it started `attempt` of the job."""
    line = f"push job {job_id}: "
    for worker in service.workers:
        for text in worker.log.read_text(errors="replace").splitlines():
            if line in text and f"(attempt {attempt})" in text:
                return worker
    raise AssertionError(f"no worker logged attempt {attempt} of {job_id}")


def test_sigterm_hands_a_running_job_back_and_another_worker_finishes_it_at_once(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    slow_vendor: RegistryProxy,
    source_images: ImageBuilder,
    unique: str,
) -> None:
    svc = _service(tmp_path_factory, redis_server, source_registry, slow_vendor, 2, "0")
    try:
        image = source_images.image(f"acme/{unique}", "1", [64 * MiB, 1 * MiB])
        job_id = svc.submit(source=f"{source_registry.host}/acme/{unique}:1", app_slug="myapp")
        svc.wait_for(job_id, done=_uploading)
        first = _runner_of(svc, job_id, 1)
        os.kill(first.proc.pid, signal.SIGTERM)  # the main process only, as Kubernetes does
        signalled = time.monotonic()
        assert first.proc.wait(timeout=60) == 0  # warm shutdown ends once the job is handed back
        job = svc.wait_for(job_id, timeout=HEARTBEAT_TIMEOUT / 2)
        took = time.monotonic() - signalled
        print(f"\nSIGTERM to success on the second worker: {took:.1f}s")
        assert job["status"] == "succeeded", job
        assert job["attempts"] == 2
        assert job["digest"] == image.digest
        assert f"push job {job_id} handed back to the queue" in first.log.read_text()
        second = _runner_of(svc, job_id, 2)
        assert second is not first
    finally:
        svc.stop()


def test_sigterm_lets_a_running_job_finish_within_the_grace_period(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    slow_vendor: RegistryProxy,
    source_images: ImageBuilder,
    unique: str,
) -> None:
    svc = _service(tmp_path_factory, redis_server, source_registry, slow_vendor, 1, "10m")
    try:
        image = source_images.image(f"acme/{unique}", "1", [32 * MiB])
        job_id = svc.submit(source=f"{source_registry.host}/acme/{unique}:1", app_slug="myapp")
        svc.wait_for(job_id, done=_uploading)
        worker = svc.workers[0]
        os.kill(worker.proc.pid, signal.SIGTERM)
        assert worker.proc.wait(timeout=120) == 0  # it waited for the job, then stopped
        job = svc.wait_for(job_id, timeout=5)
        assert job["status"] == "succeeded", job
        assert job["attempts"] == 1 and job["digest"] == image.digest
        assert "handed back" not in worker.log.read_text()
    finally:
        svc.stop()


def _probe(path: Path, max_age: float) -> int:
    argv = [sys.executable, "-m", "worker.liveness", str(path), "--max-age", str(max_age)]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, timeout=60).returncode


def test_liveness_file_stays_fresh_while_redis_is_down_and_the_probe_reads_it(
    tmp_path: Path, source_registry: Registry, vendor_registry: Registry
) -> None:
    redis = RedisServer(tmp_path / "redis")
    alive = tmp_path / "run" / "alive"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")} | {
        "PYTHONPATH": str(ROOT),
        "PUSHGATE_REDIS_URL": redis.url,
        "PUSHGATE_REGISTRY": vendor_registry.host,
        "PUSHGATE_LIVENESS_FILE": str(alive),
    }
    worker = start_worker(env, tmp_path, "alive")
    try:
        assert _probe(alive, 30) == 0
        redis.stop()
        down = time.time()
        wait_until(lambda: alive.stat().st_mtime > down + 1, 30, "a touch after the outage")
        assert worker.proc.poll() is None
        assert _probe(alive, 30) == 0
        past = time.time() - 3600
        os.utime(alive, (past, past))
        assert _probe(alive, 30) == 1  # a stale file fails the probe
        assert _probe(tmp_path / "missing", 30) == 1
    finally:
        worker.stop()
        redis.stop()
