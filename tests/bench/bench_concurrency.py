"""`make bench`: 8 images at once over a slow link in one threaded worker process, against 8
skopeo processes at once, same run; then the worker's memory over many pushes.

The WAN emulator (tests/support/wan.py, its own process) sits in front of the target registry
(WAN_DELAY_MS each way, WAN_RATE_MB_S per connection); the source registry stays on loopback,
for both sides. The worker runs as in production: one process, `--pool=threads
--concurrency=32`. Its CPU is the whole process tree's during the 8 jobs; skopeo's is the sum
of the 8 processes' rusage. The floor: every blob on its own connection, the largest one over
the per-connection rate, plus three round trips (connect, upload, manifest).
Environment: BENCH_RUNS (3), WAN_DELAY_MS (20), WAN_RATE_MB_S (25), BENCH_PUSHES (1000).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from tests.bench.common import FreshVendor, MiB
from tests.bench.duel import Duel, Image
from tests.bench.fleet import Fleet, tree_rss_mib
from tests.bench.floors import link_seconds, spread
from tests.bench.measure import TABLE_HEAD, bench_main, header, progress, row
from tests.bench.report import print_phases
from tests.support.images import ImageBuilder
from tests.support.services import Process, RedisServer, Registry
from tests.support.wan import WanProcess

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
DELAY_MS = float(os.environ.get("WAN_DELAY_MS", "20"))
RATE_MB_S = float(os.environ.get("WAN_RATE_MB_S", "25"))
PUSHES = int(os.environ.get("BENCH_PUSHES", "1000"))
LAYERS = [8 * MiB, 8 * MiB, 8 * MiB]  # issue 11's image: three 8 MiB layers, random gzip
AT_ONCE = 8


def main() -> None:
    """Run the rounds, then the memory growth; print the rows and the phases."""
    work = Path(tempfile.mkdtemp(prefix="pushgate-bench-conc-"))
    started: list[Process | Fleet] = []
    vendor = FreshVendor(work / "vendor", ["bench"])
    try:
        source = Registry(work / "source")
        started.append(source)
        wan = WanProcess(vendor.port, work / "wan.log", delay_ms=DELAY_MS, rate_mb_s=RATE_MB_S)
        started.append(wan)
        redis = RedisServer(work / "redis")
        started.append(redis)
        builder = ImageBuilder(source.url)
        pushed = [builder.image(f"acme/app{i}", "1", LAYERS) for i in range(AT_ONCE)]
        builder.image("acme/tiny", "1", [2048, 1024])
        builder.close()
        images = [
            Image(f"{source.host}/acme/app{i}:1", image.digest, f"a{i}")
            for i, image in enumerate(pushed)
        ]
        fleet = Fleet(work, redis.url, source.host, [vendor.host, wan.host])
        fleet.start()
        started.append(fleet)  # stops the API and worker it runs now, not the first ones
        header(
            f"{AT_ONCE} images at once, slow link ({DELAY_MS:g} ms each way, {RATE_MB_S:g} MB/s "
            "per connection), one worker process (threads) against 8 skopeo processes",
            RUNS,
        )
        duel = Duel(fleet, vendor, wan.host)
        for number in range(RUNS):
            progress(duel.round(images, number))
        sizes = [layer["size"] for image in pushed for layer in image.layers]
        floor = link_seconds(spread(sizes, len(sizes)), DELAY_MS, RATE_MB_S, 3)
        print(f"images: {AT_ONCE} x {len(LAYERS)} gzip layers of random bytes, 24 MiB each")
        print(TABLE_HEAD)
        sides, memory = duel.sides, duel.memory
        print(
            row(
                f"{AT_ONCE} at once, slow link",
                sides["pushgate"],
                sides["skopeo"],
                floor,
                "<= 0.7x",
            )
        )
        print(
            f"| peak RSS during {AT_ONCE} at once | worker tree {max(memory['pushgate'])} MiB | "
            f"{max(memory['skopeo'])} MiB (sum of {AT_ONCE}) | | | | <= 150 MiB |"
        )
        print_phases(f"{AT_ONCE} at once, slow link", duel)
        growth(fleet, source.host)
    finally:
        for process in reversed(started):
            process.stop()
        vendor.stop()
        shutil.rmtree(work, ignore_errors=True)


def growth(fleet: Fleet, source: str) -> None:
    """Worker memory after PUSHES small pushes to distinct repositories, against after 200."""
    fleet.registry = fleet.registries[0]
    fleet.start()
    body = {"source": f"{source}/acme/tiny:1", "app_slug": "bench"}
    warm = min(200, PUSHES)
    for first, count in ((0, warm), (warm, PUSHES - warm)):
        for batch in range(first, first + count, 100):
            bodies = [
                {**body, "target": f"m{i}"} for i in range(batch, min(batch + 100, first + count))
            ]
            fleet.push_all(bodies, tag="1")
        if first == 0:
            after_warm = tree_rss_mib(fleet.worker.proc.pid)
    grown = tree_rss_mib(fleet.worker.proc.pid)
    print(
        f"worker RSS after {PUSHES} pushes to distinct repositories: {grown} MiB, after {warm}: "
        f"{after_warm} MiB (+{grown - after_warm} MiB; goal: grows <= 5 MiB)"
    )


if __name__ == "__main__":
    bench_main(main)
