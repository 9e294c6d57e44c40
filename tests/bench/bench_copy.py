"""`make bench`: a cold copy of a 176 MiB image on loopback, the whole service against skopeo.

POST to done, through the API and one worker process, to a target wiped before every run;
skopeo copies the same image to the same wiped target. The floor is a raw PUT of the same
blobs into the target.
"""

from __future__ import annotations

import os
import shutil
import tempfile
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
LAYERS = [80 * MiB, 40 * MiB, 25 * MiB, 15 * MiB, 16 * MiB]  # 176 MiB of random gzip layers


def main() -> None:
    """Run the rounds and print the table row, the floor and the phases."""
    work = Path(tempfile.mkdtemp(prefix="pushgate-bench-copy-"))
    started: list[Process | Fleet] = []
    vendor = FreshVendor(work / "vendor", ["bench"])
    try:
        source = Registry(work / "source")
        started.append(source)
        redis = RedisServer(work / "redis")
        started.append(redis)
        pushed = ImageBuilder(source.url).image("acme/big", "1.0", LAYERS)
        image = Image(f"{source.host}/acme/big:1.0", pushed.digest, "big")
        fleet = Fleet(work, redis.url, source.host, [vendor.host])
        fleet.start()
        started.append(fleet)  # stops the API and worker it runs now, not the first ones
        header("cold copy, 176 MiB, loopback, whole service (POST to done)", RUNS)
        duel = Duel(fleet, vendor, vendor.host)
        for number in range(RUNS):
            progress(duel.round([image], number))
        blobs = [layer["digest"] for layer in pushed.layers]
        floor = raw_put_seconds(vendor, blobs_of(source.url, "acme/big", blobs))
        print(
            f"image: {len(LAYERS)} gzip layers of random bytes, {sum(LAYERS) / MiB:.0f} MiB, "
            f"{pushed.digest[:19]}; floor: raw PUT of its layers into the target"
        )
        print(TABLE_HEAD)
        sides = duel.sides
        print(
            row(
                "cold copy, 176 MiB, loopback", sides["pushgate"], sides["skopeo"], floor, "<= 0.8x"
            )
        )
        print_phases("cold copy, 176 MiB, loopback", duel)
    finally:
        for process in reversed(started):
            process.stop()
        vendor.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    bench_main(main)
