"""Start pushgate's own processes for the demo, tests and benchmarks: gunicorn, Celery workers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx

from deploy.demo_stack.services import Process, free_port, wait_until
from deploy.demo_stack.token_server import TokenServer
from worker.celery import QUEUES

ROOT = Path(__file__).resolve().parents[2]


def service_env(
    redis_url: str, source: str, vendor: str, keys_file: Path, **extra: str
) -> dict[str, str]:
    """The environment the API and workers share (hosts are host:port); no registry token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "PUSHGATE_REDIS_URL": redis_url,
            "PUSHGATE_REGISTRY": vendor,
            "PUSHGATE_INSECURE_REGISTRIES": f"{source},{vendor}",
            "PUSHGATE_SOURCE_REGISTRIES": source,
            "PUSHGATE_API_KEYS_FILE": str(keys_file),
            # The test token servers answer on ports of their own (see TokenServer.started).
            "PUSHGATE_TOKEN_REALM_HOSTS": ",".join(sorted(TokenServer.started)),
            **extra,
        }
    )
    return env


def start_api(
    env: dict[str, str],
    workdir: Path,
    workers: int = 2,
    threads: int = 64,
    python: str = sys.executable,
    cwd: Path = ROOT,
) -> tuple[Process, str]:
    """gunicorn serving `api:create_app()` on a free port; returns the process and base URL.

    gthread workers, as in production: a long-poll holds a thread, not a whole process.
    `python` and `cwd`: another installation (a venv made from the wheels) and its folder.
    """
    port = free_port()
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics-api")}
    api = Process(
        [
            python,
            "-m",
            "gunicorn",
            "--config=python:worker.gunicorn_conf",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "-k",
            "gthread",
            "--threads",
            str(threads),
            # Longer than httpx's 5 s pool expiry: otherwise gunicorn (2 s by default) closes idle
            # connections that a client is just reusing ("Server disconnected").
            "--keep-alive",
            "75",
            "--access-logfile",
            "-",
            "api:create_app()",
        ],
        workdir / "api.log",
        env=env,
        cwd=cwd,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: httpx.get(url + "/healthz").status_code == 200,
            60,
            "gunicorn API",
            api.log,
            api.proc,
            interval=0.1,
        )
    except BaseException:
        api.stop()
        raise
    return api, url


def start_worker(
    env: dict[str, str],
    workdir: Path,
    name: str,
    loglevel: str = "INFO",
    concurrency: int = 1,
    python: str = sys.executable,
    cwd: Path = ROOT,
) -> Process:
    """A Celery worker (`celery -A worker worker`, the threads pool with `concurrency` threads:
    one process) that is ready to consume pushes and webhook deliveries; `python` and `cwd` as
    in start_api."""
    log = workdir / f"worker-{name}.log"
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(workdir / f"metrics-{name}")}
    worker = Process(
        [
            python,
            "-m",
            "celery",
            "-A",
            "worker",
            "worker",
            f"--loglevel={loglevel}",
            f"--concurrency={concurrency}",
            "-Q",
            ",".join(QUEUES),
            "-n",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
        ],
        log,
        env=env,
        cwd=cwd,
    )
    try:
        wait_until(
            lambda: "ready." in log.read_text(errors="replace"),
            60,
            f"celery worker {name}",
            log,
            worker.proc,
            interval=0.05,
        )
    except BaseException:
        worker.stop()
        raise
    return worker
