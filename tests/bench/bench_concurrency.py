"""`make bench`: many pushes at once in one threaded worker process, against skopeo, same run.

The WAN emulator (tests/support/wan.py, its own process) sits in front of the target registry
(D ms each way, R MB/s per connection); the source registry stays on loopback, for both
contenders. Every cold measurement gets a freshly wiped target and, for skopeo, no blob-info
cache. The worker runs as in production: one process, `--pool=threads --concurrency=32`.
Environment: BENCH_RUNS (3), WAN_DELAY_MS (20), WAN_RATE_MB_S (25), BENCH_PUSHES (2000).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.bench.common import SKOPEO_CACHE_NOTE, FreshVendor, MiB, forget_skopeo_cache, skopeo_copy
from tests.bench.fleet import BENCH_KEY, Fleet, cpu_seconds, tree_rss_mib
from tests.support.images import ImageBuilder
from tests.support.services import Process, RedisServer, Registry
from tests.support.wan import WanProcess

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
DELAY_MS = float(os.environ.get("WAN_DELAY_MS", "20"))
RATE_MB_S = float(os.environ.get("WAN_RATE_MB_S", "25"))
PUSHES = int(os.environ.get("BENCH_PUSHES", "2000"))
LAYERS = [8 * MiB, 8 * MiB, 8 * MiB]  # issue 11's image: three 8 MiB layers, incompressible


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Cpu:
    """CPU seconds used while the block ran: by the contender, and by the shared processes
    (WAN proxy, target registry, source registry) both contenders load alike."""

    def __init__(self, contender: int | None, shared: list[int]) -> None:
        self.contender, self.shared = contender, shared
        self.used = self.shared_used = 0.0

    def _now(self) -> tuple[float, float]:
        mine = cpu_seconds(self.contender) if self.contender else _children_cpu()
        return mine, sum(cpu_seconds(pid) for pid in self.shared)

    def __enter__(self) -> Cpu:
        self._start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._now()
        self.used = end[0] - self._start[0]
        self.shared_used = end[1] - self._start[1]


def _skopeo_all(pairs: list[tuple[str, str]]) -> tuple[float, int]:
    """Run one skopeo copy per (source, dest) at once; (seconds, peak summed RSS in MiB)."""
    forget_skopeo_cache()
    start = time.perf_counter()
    procs = [
        subprocess.Popen(skopeo_copy(s, d), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for s, d in pairs
    ]
    peak = 0
    while any(p.poll() is None for p in procs):
        peak = max(peak, sum(tree_rss_mib(p.pid) for p in procs))
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    for p in procs:
        if p.returncode != 0:
            err = p.stderr.read().decode(errors="replace") if p.stderr else ""
            raise RuntimeError(f"skopeo failed: {err[-1000:]}")
        if p.stderr:
            p.stderr.close()
    return elapsed, peak


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


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _row(name: str, ours: float, theirs: float, target: str) -> str:
    return f"| {name} | {ours:.3f} s | {theirs:.3f} s | {ours / theirs:.2f}x | {target} |"


def main() -> None:
    """Run the concurrency benchmarks and print a table of medians and ratios."""
    work = Path(tempfile.mkdtemp(prefix="pushgate-bench-conc-"))
    started: list[Process] = []
    source = Registry(work / "source")
    started.append(source)
    vendor = FreshVendor(work / "vendor", ["bench"])
    try:
        wan = WanProcess(vendor.port, work / "wan.log", delay_ms=DELAY_MS, rate_mb_s=RATE_MB_S)
        started.append(wan)
        redis = RedisServer(work / "redis")
        started.append(redis)
        builder = ImageBuilder(source.url)
        for i in range(32):
            builder.image(f"acme/app{i}", "1", LAYERS)
        builder.image("acme/tiny", "1", [2048, 1024])
        builder.close()
        fleet = Fleet(work, redis.url, source.host, [vendor.host, wan.host])
        started.extend(fleet.start())
        rows: list[str] = []
        _many(fleet, vendor, source, wan, rows)
        _single(fleet, vendor, source, wan.host, vendor.host, rows)
        _api_and_growth(fleet, vendor, source, rows)
        print(
            f"\nWAN: {DELAY_MS:g} ms each way, {RATE_MB_S:g} MB/s per connection (target only);"
            f" images of 3 x 8 MiB layers; medians of {RUNS} runs; {SKOPEO_CACHE_NOTE}\n"
        )
        print("| measurement | pushgate | skopeo | ratio | target |\n|---|---|---|---|---|")
        print("\n".join(rows))
    finally:
        for process in reversed(started):
            process.stop()
        vendor.stop()


def _many(
    fleet: Fleet, vendor: FreshVendor, source: Registry, wan: WanProcess, rows: list[str]
) -> None:
    for count in (8, 32):
        ours, theirs, ours_mem, theirs_mem = [], [], [], []
        cpu_rows: list[str] = []
        for run in range(RUNS if count == 8 else 1):
            vendor.reset()
            bodies = [
                {"source": f"{source.host}/acme/app{i}:1", "app_slug": "bench", "target": f"a{i}"}
                for i in range(count)
            ]
            shared = [wan.proc.pid, _registry_pid(vendor), source.proc.pid]
            with Sampler(fleet.worker.proc.pid) as sampler, Cpu(fleet.worker.proc.pid, shared) as a:
                ours.append(fleet.push_all(bodies, tag=f"r{run}"))
            ours_mem.append(sampler.peak)
            vendor.reset()
            pairs = [
                (f"{source.host}/acme/app{i}:1", f"{wan.host}/bench/a{i}:k{run}")
                for i in range(count)
            ]
            shared = [wan.proc.pid, _registry_pid(vendor), source.proc.pid]
            with Cpu(None, shared) as b:
                seconds, peak = _skopeo_all(pairs)
            theirs.append(seconds)
            theirs_mem.append(peak)
            cpu_rows.append(
                f"CPU s: worker {a.used:.1f} + proxy/registries {a.shared_used:.1f} vs skopeo "
                f"{b.used:.1f} + proxy/registries {b.shared_used:.1f}"
            )
            print(
                f"{count} at once, run {run + 1}: {ours[-1]:.3f}s vs {seconds:.3f}s; "
                f"{cpu_rows[-1]}",
                flush=True,
            )
        target = "<= 0.6x" if count == 8 else "report"
        rows.append(
            _row(f"{count} images at once, slow link", _median(ours), _median(theirs), target)
        )
        rows.append(
            f"| worker RSS (whole tree) during {count} at once | {max(ours_mem)} MiB | "
            f"{max(theirs_mem)} MiB (sum of {count}) | - | "
            f"{'<= 150 MiB' if count == 8 else 'report'} |"
        )
        rows.append(f"| {count} at once, last run: {cpu_rows[-1]} | | | | |")


def _registry_pid(vendor: FreshVendor) -> int:
    assert vendor.registry is not None
    return vendor.registry.proc.pid


def _single(
    fleet: Fleet, vendor: FreshVendor, source: Registry, wan: str, loop: str, rows: list[str]
) -> None:
    src = f"{source.host}/acme/app0:1"
    for name, host, target in (("slow link", wan, "<= 1.0x"), ("loopback", loop, "<= 0.9x")):
        ours, theirs = [], []
        for run in range(RUNS):
            vendor.reset()
            body = {"source": src, "app_slug": "bench", "target": "one"}
            ours.append(fleet.push_all([body], tag=f"c{run}", registry=host))
            vendor.reset()
            theirs.append(_skopeo_all([(src, f"{host}/bench/one:k")])[0])
        rows.append(_row(f"single cold copy, {name}", _median(ours), _median(theirs), target))
    ours, theirs = [], []
    for _ in range(RUNS):
        vendor.reset()
        body = {"source": src, "app_slug": "bench", "target": "re"}
        fleet.push_all([body], tag="t", registry=wan)
        ours.append(fleet.push_all([body], tag="t", registry=wan))
        vendor.reset()
        _skopeo_all([(src, f"{wan}/bench/re:t")])
        theirs.append(_skopeo_all([(src, f"{wan}/bench/re:t")])[0])
    rows.append(_row("re-push, slow link", _median(ours), _median(theirs), "<= 0.5x"))


def _api_and_growth(fleet: Fleet, vendor: FreshVendor, source: Registry, rows: list[str]) -> None:
    vendor.reset()
    src = f"{source.host}/acme/tiny:1"
    http = httpx.Client(timeout=60, headers={"Authorization": f"Bearer {BENCH_KEY}"})
    latencies: list[float] = []
    lock = threading.Lock()

    def post(i: int) -> str:
        body = {"source": src, "app_slug": "bench", "target": f"m{i}", "tag": "1"}
        start = time.perf_counter()
        answer = http.post(f"{fleet.url}/v1/pushes", json=body)
        with lock:
            latencies.append(time.perf_counter() - start)
        answer.raise_for_status()
        return str(answer.json()["id"])

    def burst(first: int, count: int, clients: int) -> tuple[list[str], float]:
        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            ids = list(pool.map(post, range(first, first + count)))
        return ids, time.perf_counter() - start

    warm = min(200, PUSHES)
    fleet.wait_all(burst(0, warm, 16)[0])
    after_warm = tree_rss_mib(fleet.worker.proc.pid)
    done = warm
    api_seconds = drain = 0.0
    while done < PUSHES:
        count = min(1000, PUSHES - done)
        latencies.clear()
        ids, seconds = burst(done, count, 16)
        start = time.perf_counter()
        fleet.wait_all(ids)
        if count == 1000 and not api_seconds:
            api_seconds, drain = seconds, seconds + time.perf_counter() - start
            p99 = sorted(latencies)[int(0.99 * len(latencies)) - 1]
            rows.append(
                f"| API: 1,000 POSTs from 16 clients | {1000 / api_seconds:.0f} req/s, "
                f"p99 {p99 * 1000:.0f} ms | - | - | report |"
            )
            rows.append(
                f"| the same 1,000 jobs drained (first POST to last job done) | {drain:.1f} s "
                f"| - | - | report |"
            )
        done += count
    http.close()
    grown = tree_rss_mib(fleet.worker.proc.pid)
    rows.append(
        f"| worker RSS after {PUSHES} pushes to distinct repositories vs after {warm} | "
        f"{grown} MiB vs {after_warm} MiB (+{grown - after_warm}) | - | - | grows <= 5 MiB |"
    )


if __name__ == "__main__":
    sys.exit(main())
