"""The service under benchmark: gunicorn and one threaded worker process, restartable with
another target registry, with helpers to push many images at once and to read memory."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from deploy.demo_stack.pushgate import service_env, start_api, start_worker
from tests.bench.common import BENCH_TOKEN
from tests.support.services import Process

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


class Fleet:
    """The API and one worker process (`--concurrency 32`, threads) for a target registry."""

    def __init__(self, work: Path, redis_url: str, source: str, registries: list[str]) -> None:
        self.work, self.redis_url, self.source = work, redis_url, source
        self.registries = registries
        self.registry = registries[-1]
        self.keys = work / "keys.json"
        digest = hashlib.sha256(BENCH_KEY.encode()).hexdigest()
        self.keys.write_text(
            json.dumps(
                [
                    # limits no bench reaches
                    {
                        "name": "b",
                        "app_slugs": ["bench"],
                        "key_sha256": digest,
                        "rate": 1_000_000,
                        "max_active": 1_000_000,
                    }
                ]
            )
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
        """Start (or restart) the API and the worker for self.registry; returns them. A bench
        stops the fleet (not what this returned): a push to another registry restarts both."""
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
    ) -> list[dict[str, Any]]:
        """POST every push at once and wait for all to succeed; returns the final jobs."""
        if registry is not None and registry != self.registry:
            self.registry = registry
            self.start()
        ids = []
        for body in bodies:
            answer = self.http.post(f"{self.url}/v1/pushes", json={**body, "tag": tag})
            answer.raise_for_status()
            ids.append(answer.json()["id"])
        return self.wait_all(ids)

    def wait_all(
        self, ids: list[str], timeout: float = 900, expect: str = "succeeded"
    ) -> list[dict[str, Any]]:
        """Wait until every job ended as `expect` (raise when one did not, or on timeout)."""
        pending, done = list(ids), []
        give_up = time.monotonic() + timeout
        while pending:
            if time.monotonic() > give_up:
                raise RuntimeError(f"{len(pending)} jobs still running after {timeout}s")
            # A long-poll, answered when the job's status changes: no polling loop competes
            # with the workers for the CPU.
            job = self.http.get(
                f"{self.url}/v1/pushes/{pending[0]}", params={"wait": 10, "wake_on": "status"}
            ).json()
            if job["status"] in ("queued", "running"):
                continue
            if job["status"] != expect:
                raise RuntimeError(f"bench push failed: {job}")
            done.append(job)
            pending.pop(0)
        return done


class Sampler:
    """Samples a process tree's resident memory every 20 ms while in use; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, tree_rss_mib(self.pid))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
