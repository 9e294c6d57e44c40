"""CLI and long-poll costs: the CLI's latency from a job's end to its exit, and the API
requests a 60 s wait costs with the long-poll against plain polling once a second."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from deploy.demo_stack.pushgate import service_env, start_api, start_worker
from tests.bench.common import BENCH_TOKEN, FreshVendor
from tests.support.cli import cli_env, run_cli, run_cli_in_pty
from tests.support.images import ImageBuilder
from tests.support.services import Process, RedisServer, Registry
from worker.jobs.model import JobStatus, Progress
from worker.jobs.store import JobStore

KEY = "bench-cli-key-7f3a"
RUNS = 5
WINDOW = 60.0
KiB = 1024


def _epoch(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _requests_for(api: Process, job_id: str) -> int:
    """GETs of the job in gunicorn's access log."""
    return sum(f"GET /v1/pushes/{job_id}" in line for line in api.log.read_text().splitlines())


def _submit(url: str, source: str) -> str:
    response = httpx.post(
        url + "/v1/pushes",
        json={"source": source, "app_slug": "bench"},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    response.raise_for_status()
    return str(response.json()["id"])


def _poll_every_second(url: str, job_id: str) -> None:
    end = time.monotonic() + WINDOW
    with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}) as client:
        while time.monotonic() < end:
            client.get(f"{url}/v1/pushes/{job_id}")
            time.sleep(1.0)


def _long_poll(url: str, job_id: str) -> None:
    end, etag = time.monotonic() + WINDOW, ""
    with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as client:
        while (left := end - time.monotonic()) > 0.05:
            response = client.get(
                f"{url}/v1/pushes/{job_id}",
                params={"wait": f"{min(30.0, left):.1f}"},
                headers={"If-None-Match": etag} if etag else {},
            )
            etag = response.headers.get("ETag", etag)


def _fake_progress(store: JobStore, job_ids: list[str], stop: threading.Event) -> None:
    """What a running job's worker writes: progress every 0.5 s (the default interval)."""
    for job_id in job_ids:
        store.transition(job_id, [JobStatus.QUEUED], JobStatus.RUNNING)
    done = 0
    while not stop.wait(0.5):
        done += 1
        for job_id in job_ids:
            store.update(job_id, progress=Progress(blobs_total=5, blobs_done=1, bytes_done=done))


def waits(url: str, api: Process, source: str, redis_url: str) -> None:
    """60 s waits at once on jobs no worker takes: queued and unchanged, or running with
    progress written as a worker would."""
    env = cli_env(url, KEY)
    cli_args = ["--timeout", f"{WINDOW:g}s"]
    contenders: dict[str, Callable[[str], object]] = {
        "pushgate wait (CI log, 10 s lines)": lambda j: run_cli(["wait", j, *cli_args], env),
        "pushgate wait (terminal, live bar)": lambda j: run_cli_in_pty(["wait", j, *cli_args], env),
        "raw long-poll, wait=30": lambda j: _long_poll(url, j),
        "plain polling every 1 s": lambda j: _poll_every_second(url, j),
    }
    store = JobStore.from_url(redis_url, 3600)
    stop = threading.Event()
    plan = {
        (name, kind): _submit(url, source)
        for kind in ("unchanged", "progress")
        for name in contenders
    }
    writer = threading.Thread(
        target=_fake_progress,
        args=(store, [j for (_, kind), j in plan.items() if kind == "progress"], stop),
    )
    writer.start()  # moves its jobs to running first
    threads = [threading.Thread(target=contenders[n], args=(j,)) for (n, _), j in plan.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    writer.join()
    print(f"\nAPI requests during one {WINDOW:g} s wait on a job (gunicorn access log):")
    for name in contenders:
        unchanged = _requests_for(api, plan[(name, "unchanged")])
        moving = _requests_for(api, plan[(name, "progress")])
        print(
            f"  {name:<38} queued, unchanged: {unchanged:>3}   "
            f"running, progress every 0.5 s: {moving:>3}"
        )


def added_latency(url: str, source: str) -> None:
    """`pushgate push` off a terminal, RUNS times: seconds from finished_at to the exit."""
    env = cli_env(url, KEY)
    gaps = []
    for run in range(RUNS):
        result = run_cli(
            ["push", source, "--app", "bench", "--tag", f"r{run}", "--output", "json"], env
        )
        exited = time.time()
        job = json.loads(result.stdout)
        assert result.returncode == 0, result.stderr
        gaps.append(exited - _epoch(job["finished_at"]))
        print(f"run {run + 1}/{RUNS}: {gaps[-1] * 1000:.0f} ms", file=sys.stderr, flush=True)
    print(
        f"\nCLI added latency, job finished_at -> process exit ({RUNS} runs): median "
        f"{statistics.median(gaps) * 1000:.0f} ms, max {max(gaps) * 1000:.0f} ms"
    )
    answers = []
    with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as client:
        for run in range(RUNS):
            job_id = _submit(url, source)
            job: dict[str, str] = {"status": "queued"}
            while job["status"] in ("queued", "running"):
                response = client.get(
                    f"{url}/v1/pushes/{job_id}", params={"wait": 30, "wake_on": "status"}
                )
                job = response.json()
            answers.append(time.time() - _epoch(job["finished_at"]))
            print(f"long-poll run {run + 1}/{RUNS}: {answers[-1] * 1000:.0f} ms", file=sys.stderr)
    print(
        f"of which the long-poll answer, finished_at -> response read ({RUNS} runs): median "
        f"{statistics.median(answers) * 1000:.0f} ms, max {max(answers) * 1000:.0f} ms"
    )


def main() -> None:
    """Start Redis, a source registry, a vendor stand-in, the API and one worker; measure."""
    work = Path(tempfile.mkdtemp(prefix="pushgate-bench-cli-"))
    redis_server = RedisServer(work / "redis")
    source = Registry(work / "source")
    vendor = FreshVendor(work / "vendor", ["bench"])
    keys = work / "keys.json"
    keys.write_text(
        json.dumps(
            [
                {
                    "name": "bench",
                    "app_slugs": ["bench"],
                    "key_sha256": hashlib.sha256(KEY.encode()).hexdigest(),
                }
            ]
        )
    )
    processes: list[Process] = []
    try:
        builder = ImageBuilder(source.url)
        builder.image("acme/cli", "1", [200 * KiB, 30 * KiB])
        builder.close()
        env = service_env(redis_server.url, source.host, vendor.host, keys)
        api, url = start_api(env, work)
        processes.append(api)
        ref = f"{source.host}/acme/cli:1"
        waits(url, api, ref, redis_server.url)
        worker_env = {**env, "PUSHGATE_REGISTRY_TOKEN": BENCH_TOKEN}
        processes.append(start_worker(worker_env, work, "bench"))
        added_latency(url, ref)
    finally:
        for process in processes:
            process.stop()
        vendor.stop()
        source.stop()
        redis_server.stop()


if __name__ == "__main__":
    main()
