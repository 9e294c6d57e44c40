"""A running pushgate for tests: gunicorn (API) and Celery workers on real Redis."""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from deploy.demo_stack.pushgate import service_env, start_api, start_worker
from tests.support.accounts import SA_TOKEN
from tests.support.services import Process, RedisServer

API_KEY = "pipeline-key-5e1f0c2b"
# More keys of the pipeline's apps, for tests holding more waits than one key may.
WAIT_KEYS = [f"waiter-key-{n}-7d31a9" for n in range(4)]


def wait_key_entries() -> list[dict[str, Any]]:
    """The keys file entries of WAIT_KEYS (for `launch(extra_keys=...)`)."""
    return [
        {
            "name": f"waiter-{n}",
            "app_slugs": ["myapp"],
            "key_sha256": hashlib.sha256(key.encode()).hexdigest(),
        }
        for n, key in enumerate(WAIT_KEYS)
    ]


@dataclass
class Service:
    """A running pushgate: its URL, processes, logs, and every response it gave."""

    url: str
    env: dict[str, str]
    workdir: Path
    api: Process
    workers: list[Process] = field(default_factory=list)
    worker_extra: dict[str, str] = field(default_factory=dict)
    worker_concurrency: int = 1
    responses: list[str] = field(default_factory=list)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the API with the pipeline's key, remembering the response text."""
        headers = {"Authorization": f"Bearer {API_KEY}", **kwargs.pop("headers", {})}
        response = self.http.request(method, self.url + path, headers=headers, **kwargs)
        self.responses.append(f"{response.status_code} {dict(response.headers)} {response.text}")
        return response

    def submit(self, **body: Any) -> str:
        """POST a push (it must be accepted) and return the job id."""
        response = self.call("POST", "/v1/pushes", json=body)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def push(self, **body: Any) -> dict[str, Any]:
        """Submit a push and wait for it to finish; returns the final job."""
        return self.wait_for(self.submit(**body))

    def start_worker(self, name: str, **extra: str) -> Process:
        """Start one more Celery worker process (threads pool, `worker_concurrency` threads);
        `extra` is more of its environment."""
        env = {**self.env, **self.worker_env, **extra}
        worker = start_worker(env, self.workdir, name, "DEBUG", self.worker_concurrency)
        self.workers.append(worker)
        return worker

    @property
    def worker_env(self) -> dict[str, str]:
        """What only the workers get: the vendor registry token."""
        return {
            "PUSHGATE_REGISTRY_TOKEN": SA_TOKEN,
            "PUSHGATE_REGISTRY_USERNAME": "pushgate-sa",
            **self.worker_extra,
        }

    def wait_for(
        self,
        job_id: str,
        timeout: float = 120,
        done: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """Poll the job until it finishes (or `done` says so); returns the job."""
        done = done or (lambda job: job["status"] in ("succeeded", "failed", "cancelled"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.call("GET", f"/v1/pushes/{job_id}").json()
            if done(job):
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} did not finish in {timeout}s: {job}")

    def logs(self) -> str:
        """Everything the API and the workers logged so far."""
        return "\n".join(p.log.read_text(errors="replace") for p in [self.api, *self.workers])

    def stop(self) -> None:
        """Stop every process."""
        for process in [*self.workers, self.api]:
            process.stop()
        self.http.close()


def launch(
    workdir: Path,
    redis_url: str,
    source: str,
    vendor: str,
    workers: int = 1,
    shared_env: dict[str, str] | None = None,
    extra_keys: list[dict[str, Any]] | None = None,
    concurrency: int = 1,
    **worker_env: str,
) -> Service:
    """gunicorn + Celery workers on their own Redis database, pushing to `vendor`."""
    keys = workdir / "keys.yaml"
    keys.write_text(
        json.dumps(
            [
                {
                    "name": "pipeline",
                    "app_slugs": ["myapp", "shared", "lockedapp"],
                    "key_sha256": hashlib.sha256(API_KEY.encode()).hexdigest(),
                },
                *(extra_keys or []),
            ]
        )
    )
    if redis_url.startswith("redis://"):  # HA and TLS tests bring fresh servers of their own
        redis.Redis.from_url(redis_url).flushdb()
    env = service_env(
        redis_url,
        source,
        vendor,
        keys,
        PUSHGATE_PROGRESS_INTERVAL="0.1",
        PUSHGATE_HEARTBEAT_INTERVAL="0.5",
        PUSHGATE_LOG_LEVEL="DEBUG",
        **(shared_env or {}),
    )
    api, url = start_api(env, workdir)
    svc = Service(
        url=url,
        env=env,
        workdir=workdir,
        api=api,
        worker_extra=worker_env,
        worker_concurrency=concurrency,
    )
    try:
        for n in range(workers):
            svc.start_worker(f"w{n + 1}")
    except BaseException:
        svc.stop()
        raise
    return svc


_databases = itertools.count(1)


def redis_db(server: RedisServer) -> str:
    """The URL of a database on `server` that no other service of this session uses: services
    sharing one would take each other's queued jobs (and launch() empties its database)."""
    return server.url.rsplit("/", 1)[0] + f"/{next(_databases)}"
