"""`make bench`: one 1 GiB layer over loopback, the whole service with defaults against skopeo.

Every run copies to a wiped target; skopeo's blob-info cache is removed before each skopeo run,
so neither side can skip the upload. The floor is a raw PUT of the same blob into the target.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.common import FreshVendor, MiB
from tests.bench.duel import Duel, Image
from tests.bench.fleet import Fleet
from tests.bench.floors import blobs_of, raw_put_seconds
from tests.bench.measure import TABLE_HEAD, bench_main, header, progress, row
from tests.bench.report import print_phases
from tests.support.images import ImageBuilder
from tests.support.services import Process, RedisServer, Registry

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
LAYER = int(os.environ.get("BENCH_BIG_LAYER_MIB", "1024")) * MiB


def main() -> None:
    """Copy one big layer cold, RUNS times each side; print the row, the floor, the phases."""
    work = Path(tempfile.mkdtemp(prefix="pushgate-bench-big-"))
    started: list[Process | Fleet] = []
    vendor = FreshVendor(work / "vendor", ["bench"])
    try:
        source = Registry(work / "source")
        started.append(source)
        redis = RedisServer(work / "redis")
        started.append(redis)
        clock = time.perf_counter()
        pushed = ImageBuilder(source.url).image("acme/big-layer", "1", [], streamed=[LAYER])
        print(f"source image built in {time.perf_counter() - clock:.1f}s", file=sys.stderr)
        image = Image(f"{source.host}/acme/big-layer:1", pushed.digest, "big-layer")
        fleet = Fleet(work, redis.url, source.host, [vendor.host])
        fleet.start()
        started.append(fleet)  # stops the API and worker it runs now, not the first ones
        header(f"one {LAYER // MiB} MiB gzip layer, loopback, defaults, whole service", RUNS)
        duel = Duel(fleet, vendor, vendor.host)
        for number in range(RUNS):
            progress(duel.round([image], number))
        blobs = blobs_of(source.url, "acme/big-layer", [pushed.layers[0]["digest"]])
        floor = raw_put_seconds(vendor, blobs)
        del blobs
        print(f"image {pushed.digest[:19]}; floor: raw PUT of the layer into the target")
        print(TABLE_HEAD)
        sides = duel.sides
        print(row("1 GiB layer, loopback", sides["pushgate"], sides["skopeo"], floor, "<= 0.85x"))
        print_phases("1 GiB layer, loopback", duel)
    finally:
        for process in reversed(started):
            process.stop()
        vendor.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    bench_main(main)
