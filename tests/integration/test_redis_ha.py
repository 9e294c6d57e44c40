"""Redis that survives: a Sentinel failover with pushes in flight, and Redis over TLS."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.images import ImageBuilder
from tests.support.proxy import Faults, RegistryProxy
from tests.support.pushgate import API_KEY, launch
from tests.support.redis_ha import MASTER_NAME, SentinelGroup, TlsRedisServer, make_tls_files
from tests.support.services import Registry, wait_until
from worker.redisconn import redis_client
from worker.settings import Settings

MiB = 1 << 20


@pytest.fixture
def sentinel_group(tmp_path: Path) -> Iterator[SentinelGroup]:
    group = SentinelGroup.start(tmp_path / "ha")
    yield group
    group.stop()


@pytest.fixture
def slow_vendor(vendor_registry: Registry) -> Iterator[RegistryProxy]:
    """The vendor at 16 MiB/s, so the pushes are still in flight when the master dies."""
    proxy = RegistryProxy(vendor_registry.port, faults=Faults(bandwidth=16 * MiB))
    yield proxy
    proxy.stop()


class ApiWatcher:
    """Calls the API over and over from a thread; remembers every answer, or the failure."""

    def __init__(self, url: str, job_ids: list[str]) -> None:
        self.url, self.job_ids = url, job_ids
        self.answers: list[tuple[str, int, str | None]] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ApiWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        paths = ["/readyz", *(f"/v1/pushes/{job_id}" for job_id in self.job_ids)]
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as client:
            n = 0
            while not self._stop.wait(0.05):
                path = paths[n % len(paths)]
                n += 1
                try:
                    response = client.get(path)
                except httpx.HTTPError as exc:
                    self.failures.append(f"{path}: {type(exc).__name__}: {exc}")
                    continue
                self.answers.append(
                    (path, response.status_code, response.headers.get("Retry-After"))
                )


def test_sentinel_failover_with_ten_pushes_in_flight_all_succeed(
    tmp_path: Path,
    sentinel_group: SentinelGroup,
    source_registry: Registry,
    slow_vendor: RegistryProxy,
    source_images: ImageBuilder,
    unique: str,
) -> None:
    svc = launch(
        tmp_path,
        sentinel_group.url,
        source_registry.host,
        slow_vendor.host,
        workers=2,
        shared_env={
            "PUSHGATE_REDIS_SENTINEL_MASTER": MASTER_NAME,
            "PUSHGATE_HEARTBEAT_TIMEOUT": "10",
            "PUSHGATE_RECONCILE_INTERVAL": "1",
        },
    )
    try:
        images = [
            source_images.image(f"acme/{unique}-{i}", "1", [4 * MiB, 2 * MiB, 64 * 1024])
            for i in range(10)
        ]
        ids = [
            svc.submit(source=f"{source_registry.host}/acme/{unique}-{i}:1", app_slug="myapp")
            for i in range(10)
        ]
        old_master, new_master = sentinel_group.master, sentinel_group.replica
        with ApiWatcher(svc.url, ids) as watcher:
            svc.wait_for(ids[0], done=lambda job: job["progress"]["bytes_done"] > 0)
            # Kill it at a moment the replica holds every write, as a real failover would
            # only lose what was not yet replicated.
            wait_until(sentinel_group.in_sync, 30, "replica in sync")
            old_master.stop(signal.SIGKILL)
            wait_until(
                lambda: all(s.master_port() == new_master.port for s in sentinel_group.sentinels),
                60,
                "the sentinels to promote the replica",
                interval=0.1,
            )
            jobs = [svc.wait_for(job_id, timeout=300) for job_id in ids]
        in_flight = [job["attempts"] for job in jobs]
        assert [j["status"] for j in jobs] == ["succeeded"] * 10, [
            (j["id"], j["status"], j["error"]) for j in jobs
        ]
        assert [j["digest"] for j in jobs] == [image.digest for image in images]
        assert watcher.failures == []
        refused = [a for a in watcher.answers if a[1] != 200]
        assert all(status == 503 and retry for _, status, retry in refused), refused
        assert any(path == "/readyz" for path, _, _ in watcher.answers)
        print(
            f"\nfailover: {len(watcher.answers)} API answers while it happened, "
            f"{len(refused)} of them 503 with Retry-After; attempts per job {in_flight}"
        )
        # The job store and Celery's broker both moved to the new master.
        new = redis.Redis(port=new_master.port, decode_responses=True)
        assert new.info("replication")["role"] == "master"
        assert all(new.exists(f"pushgate:job:{job_id}") for job_id in ids)
    finally:
        svc.stop()


def test_api_and_worker_push_through_redis_over_tls(
    tmp_path: Path,
    source_registry: Registry,
    vendor_registry: Registry,
    source_images: ImageBuilder,
    unique: str,
) -> None:
    tls = make_tls_files(tmp_path / "tls")
    server = TlsRedisServer(tmp_path / "redis-tls", tls)
    try:
        unverified = redis_client(Settings(redis_url=server.url))
        with pytest.raises(redis.ConnectionError):
            unverified.ping()  # the system CAs do not know our CA: verification is on
        svc = launch(
            tmp_path,
            server.url,
            source_registry.host,
            vendor_registry.host,
            shared_env={
                "PUSHGATE_REDIS_CA_FILE": str(tls.ca),
                "PUSHGATE_REDIS_CERT_FILE": str(tls.client_cert),
                "PUSHGATE_REDIS_KEY_FILE": str(tls.client_key),
            },
        )
        try:
            image = source_images.image(f"acme/{unique}", "1", [MiB, 4096])
            job = svc.push(source=f"{source_registry.host}/acme/{unique}:1", app_slug="myapp")
            assert job["status"] == "succeeded", job
            assert job["digest"] == image.digest
            assert svc.call("GET", "/readyz").status_code == 200
            settings = Settings(
                redis_url=server.url,
                redis_ca_file=tls.ca,
                redis_cert_file=tls.client_cert,
                redis_key_file=tls.client_key,
            )
            assert redis_client(settings).exists(f"pushgate:job:{job['id']}")
        finally:
            svc.stop()
    finally:
        server.stop()
