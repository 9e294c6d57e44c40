"""The service under benchmark: gunicorn and one threaded worker process, restartable with
another target registry, with helpers to push many images at once and to read memory."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import httpx

from tests.bench.common import BENCH_TOKEN
from tests.support.services import Process
from tests.support.stack import service_env, start_api, start_worker

BENCH_KEY = "bench-concurrency-key-7"
WORKER_THREADS = 32


def tree_rss_mib(pid: int) -> int:
    """Resident memory of a process and all its descendants, in MiB (0 once gone)."""
    total = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS"))
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(child) for child in children)
        except (OSError, StopIteration, ValueError):
            continue
    return total // 1024


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a live process has used so far (0 once gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Fleet:
    """The API and one worker process (`--concurrency 32`, threads) for a target registry."""

    def __init__(self, work: Path, redis_url: str, source: str, registries: list[str]) -> None:
        self.work, self.redis_url, self.source = work, redis_url, source
        self.registries = registries
        self.registry = registries[-1]
        self.keys = work / "keys.json"
        digest = hashlib.sha256(BENCH_KEY.encode()).hexdigest()
        self.keys.write_text(
            json.dumps([{"name": "b", "app_slugs": ["bench"], "key_sha256": digest}])
        )
        self.api: Process | None = None
        self._worker: Process | None = None
        self.url = ""
        self.http = httpx.Client(timeout=60, headers={"Authorization": f"Bearer {BENCH_KEY}"})

    @property
    def worker(self) -> Process:
        """The worker process."""
        assert self._worker is not None
        return self._worker

    def start(self) -> list[Process]:
        """Start (or restart) the API and the worker for self.registry; returns them."""
        self.stop()
        env = service_env(self.redis_url, self.source, self.registry, self.keys)
        env["PUSHGATE_INSECURE_REGISTRIES"] = ",".join([self.source, *self.registries])
        self.api, self.url = start_api(env, self.work)
        worker_env = {
            **env,
            "PUSHGATE_REGISTRY_TOKEN": BENCH_TOKEN,
            "PUSHGATE_REGISTRY_USERNAME": "bench",
            "PUSHGATE_LOG_LEVEL": "WARNING",
            "MALLOC_MMAP_THRESHOLD_": "131072",  # as deploy/Dockerfile sets it
        }
        name = f"conc{int(time.time() * 1000) % 100000}"
        self._worker = start_worker(worker_env, self.work, name, "INFO", WORKER_THREADS)
        return [self.api, self._worker]

    def stop(self) -> None:
        """Stop the API and the worker."""
        for process in (self._worker, self.api):
            if process is not None:
                process.stop()
        self._worker = self.api = None

    def push_all(
        self, bodies: list[dict[str, object]], tag: str, registry: str | None = None
    ) -> float:
        """POST every push at once and wait for all to succeed; seconds from first POST."""
        if registry is not None and registry != self.registry:
            self.registry = registry
            self.start()
        start = time.perf_counter()
        ids = [
            self.http.post(f"{self.url}/v1/pushes", json={**body, "tag": tag}).json()["id"]
            for body in bodies
        ]
        self.wait_all(ids)
        return time.perf_counter() - start

    def wait_all(self, ids: list[str], timeout: float = 600) -> None:
        """Wait until every job succeeded (raise when one did not, or on timeout)."""
        pending = list(ids)
        give_up = time.monotonic() + timeout
        while pending:
            if time.monotonic() > give_up:
                raise RuntimeError(f"{len(pending)} jobs still running after {timeout}s")
            job = self.http.get(f"{self.url}/v1/pushes/{pending[0]}").json()
            if job["status"] in ("queued", "running"):
                time.sleep(0.01)
                continue
            if job["status"] != "succeeded":
                raise RuntimeError(f"bench push failed: {job}")
            pending.pop(0)
