"""`make bench`: the API's POST path under load, and how fast one worker drains what it took.

1,000 POSTs from 16 clients at once to gunicorn (2 gthread processes, as `start_api` runs
it) with a key whose limits no run reaches; every push names a source tag that does not exist,
so its job fails fast at the source and the worker (one threads-pool process) drains them
quickly. Prints POSTs per second, the latency percentiles, the API's CPU seconds, and the
seconds from the first POST to the last job ended. Environment: BENCH_POSTS (1000),
BENCH_CLIENTS (16).
"""

from __future__ import annotations

import os
import shutil
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


def main() -> None:
    """Warm up, then measure one burst and its drain."""
    work = Path(tempfile.mkdtemp(prefix="pushgate-bench-api-"))
    started: list[Process] = []
    vendor = FreshVendor(work / "vendor", ["bench"])
    try:
        source = Registry(work / "source")
        started.append(source)
        redis = RedisServer(work / "redis")
        started.append(redis)
        fleet = Fleet(work, redis.url, source.host, [vendor.host])
        started.extend(fleet.start())
        missing = f"{source.host}/acme/missing"
        header(f"API: {POSTS} POSTs from {CLIENTS} clients, 2 gthread processes", 1)
        fleet.wait_all(burst(fleet.url, missing + "-warm", 100)[0], expect="failed")
        assert fleet.api is not None
        with measuring(fleet.api.proc.pid) as api_cpu:
            start = time.perf_counter()
            ids, latencies = burst(fleet.url, missing)
            posted = time.perf_counter() - start
        fleet.wait_all(ids, expect="failed")
        drained = time.perf_counter() - start
        cuts = statistics.quantiles(latencies, n=100)
        print(
            f"| API: {POSTS} POSTs from {CLIENTS} clients | {POSTS / posted:.0f} POSTs/s, "
            f"p50 {cuts[49] * 1000:.0f} ms, p99 {cuts[98] * 1000:.0f} ms | API CPU "
            f"{api_cpu[0].cpu:.1f} s ({api_cpu[0].cpu / POSTS * 1000:.1f} ms a POST) | load "
            f"{api_cpu[0].describe().split('load ')[1]} | goal >= 300/s, p99 <= 100 ms |"
        )
        print(
            f"the {POSTS} jobs (failing fast at the source) drained {drained - posted:.1f} s "
            f"after the last POST ({drained:.1f} s from the first), one threads-pool worker"
        )
    finally:
        for process in reversed(started):
            process.stop()
        vendor.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    bench_main(main)
