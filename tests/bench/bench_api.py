"""`make bench`: the API's POST path under load, and how fast one worker drains what it took.

1,000 POSTs from 16 clients at once to gunicorn (2 gthread processes, as `start_api` runs
it) with a key whose limits no run reaches; every push names a source tag that does not exist,
so its job fails fast at the source and the worker (one threads-pool process) drains them
quickly. Prints POSTs per second, the latency percentiles, the API's CPU seconds, and the
seconds from the last POST to the last job ended; then the same with the worker paused
during the POSTs (the API alone on the machine) and the jobs drained after them (the worker
alone). Environment: BENCH_POSTS (1000), BENCH_CLIENTS (16).
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.bench.common import FreshVendor
from tests.bench.fleet import BENCH_KEY, Fleet
from tests.bench.measure import bench_main, header, measuring
from tests.support.services import Process, RedisServer, Registry

POSTS = int(os.environ.get("BENCH_POSTS", "1000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))


def burst(url: str, source: str, count: int = POSTS) -> tuple[list[str], list[float]]:
    """`count` pushes from CLIENTS threads, each with its own connection; (ids, latencies)."""
    local = threading.local()
    latencies: list[float] = []

    def post(i: int) -> str:
        if not hasattr(local, "http"):
            local.http = httpx.Client(timeout=60, headers={"Authorization": f"Bearer {BENCH_KEY}"})
        body = {"source": source, "app_slug": "bench", "target": f"p{i}", "tag": "1"}
        start = time.perf_counter()
        answer = local.http.post(f"{url}/v1/pushes", json=body)
        latencies.append(time.perf_counter() - start)
        answer.raise_for_status()
        return str(answer.json()["id"])

    with ThreadPoolExecutor(CLIENTS) as pool:
        ids = list(pool.map(post, range(count)))
    return ids, latencies


def measured_burst(fleet: Fleet, source: str, worker_paused: bool) -> tuple[str, float]:
    """One measured burst of POSTS and its drain; the result line, and the drain's seconds
    after the last POST. With `worker_paused`, the worker is stopped (SIGSTOP) during the
    POSTs, so the API has the machine to itself, and drains alone once they are answered."""
    assert fleet.api is not None
    worker = fleet.worker.proc.pid
    if worker_paused:
        os.kill(worker, signal.SIGSTOP)
    with measuring(worker) as worker_cpu:
        try:
            with measuring(fleet.api.proc.pid) as api_cpu:
                start = time.perf_counter()
                ids, latencies = burst(fleet.url, source)
                posted = time.perf_counter() - start
        finally:
            if worker_paused:
                os.kill(worker, signal.SIGCONT)
        fleet.wait_all(ids, expect="failed")
    drained = time.perf_counter() - start - posted
    cuts = statistics.quantiles(latencies, n=100)
    run, jobs = api_cpu[0], worker_cpu[0]
    return (
        f"{POSTS / posted:.0f} POSTs/s, p50 {cuts[49] * 1000:.0f} ms, p99 {cuts[98] * 1000:.0f} "
        f"ms | API CPU {run.cpu:.1f} s ({run.cpu / POSTS * 1000:.1f} ms a POST), worker CPU "
        f"{jobs.cpu:.1f} s ({jobs.cpu / POSTS * 1000:.1f} ms a job) | load "
        f"{run.describe().split('load ')[1]}",
        drained,
    )


def main() -> None:
    """Warm up, then measure one burst and its drain as the goal names it (the worker draining
    while the POSTs arrive), then one with the worker paused (the API alone, then the drain
    alone)."""
    work = Path(tempfile.mkdtemp(prefix="pushgate-bench-api-"))
    started: list[Process | Fleet] = []
    vendor = FreshVendor(work / "vendor", ["bench"])
    try:
        source = Registry(work / "source")
        started.append(source)
        redis = RedisServer(work / "redis")
        started.append(redis)
        fleet = Fleet(work, redis.url, source.host, [vendor.host])
        fleet.start()
        started.append(fleet)  # stops the API and worker it runs now, not the first ones
        missing = f"{source.host}/acme/missing"
        header(f"API: {POSTS} POSTs from {CLIENTS} clients, 2 gthread processes", 1)
        fleet.wait_all(burst(fleet.url, missing + "-warm", 100)[0], expect="failed")
        line, drained = measured_burst(fleet, missing, worker_paused=False)
        print(
            f"| API: {POSTS} POSTs from {CLIENTS} clients | {line} | goal >= 300/s, p99 <= 100 ms |"
        )
        print(
            f"the {POSTS} jobs (failing fast at the source) drained {drained:.1f} s after the "
            "last POST, one threads-pool worker"
        )
        line, drained = measured_burst(fleet, missing + "-alone", worker_paused=True)
        print(f"| the same, the worker paused: the API alone | {line} |")
        print(f"then the {POSTS} jobs drained alone in {drained:.1f} s, one threads-pool worker")
    finally:
        for process in reversed(started):
            process.stop()
        vendor.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    bench_main(main)
