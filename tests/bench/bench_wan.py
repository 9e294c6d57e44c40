"""`make bench`: over a slow link, a cold copy and a new tag of an image the target holds.

The WAN emulator (tests/support/wan.py, its own process) sits between both copiers and the
target registry: every connection pays WAN_DELAY_MS each way and carries at most WAN_RATE_MB_S.
The source registry and the token server stay on loopback, for both sides. Each round wipes
the target, copies the image cold, then pushes it again under a new tag (the target holds
every blob and the manifest). The floors: the largest blob over one connection's rate plus
three round trips (connect, upload, manifest) for the cold copy; two (connect, manifest PUT)
for the new tag.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from tests.bench.common import FreshVendor, MiB
from tests.bench.duel import Duel, Image
from tests.bench.fleet import Fleet
from tests.bench.floors import link_seconds, spread
from tests.bench.measure import TABLE_HEAD, bench_main, header, progress, row
from tests.bench.report import print_phases
from tests.support.images import ImageBuilder
from tests.support.services import Process, RedisServer, Registry
from tests.support.wan import WanProcess

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
DELAY_MS = float(os.environ.get("WAN_DELAY_MS", "20"))
RATE_MB_S = float(os.environ.get("WAN_RATE_MB_S", "25"))
LAYERS = [8 * MiB, 8 * MiB, 8 * MiB]  # issue 11's image: three 8 MiB layers, random gzip


def main() -> None:
    """Run the rounds over the emulated link; print the table rows and the phases."""
    work = Path(tempfile.mkdtemp(prefix="pushgate-bench-wan-"))
    started: list[Process | Fleet] = []
    vendor = FreshVendor(work / "vendor", ["bench"])
    try:
        source = Registry(work / "source")
        started.append(source)
        wan = WanProcess(vendor.port, work / "wan.log", delay_ms=DELAY_MS, rate_mb_s=RATE_MB_S)
        started.append(wan)
        redis = RedisServer(work / "redis")
        started.append(redis)
        pushed = ImageBuilder(source.url).image("acme/wan", "1", LAYERS)
        image = Image(f"{source.host}/acme/wan:1", pushed.digest, "wan")
        fleet = Fleet(work, redis.url, source.host, [wan.host])
        fleet.start()
        started.append(fleet)  # stops the API and worker it runs now, not the first ones
        header(
            f"slow link ({DELAY_MS:g} ms each way, {RATE_MB_S:g} MB/s per connection): cold "
            "copy, then a new tag of the image the target holds",
            RUNS,
        )
        duel = Duel(fleet, vendor, wan.host, new_tag=True)
        for number in range(RUNS):
            progress(duel.round([image], number))
        sizes = [layer["size"] for layer in pushed.layers]
        cold_floor = link_seconds(spread(sizes, len(sizes)), DELAY_MS, RATE_MB_S, 3)
        tag_floor = link_seconds([len(pushed.raw)], DELAY_MS, RATE_MB_S, 2)
        print(
            f"image: {len(LAYERS)} gzip layers of random bytes, {sum(sizes) / MiB:.0f} MiB, "
            f"{pushed.digest[:19]}"
        )
        print(TABLE_HEAD)
        sides = duel.sides
        print(
            row("cold copy, slow link", sides["pushgate"], sides["skopeo"], cold_floor, "<= 0.95x")
        )
        print(
            row(
                "new tag of a held image, slow link",
                sides["pushgate new tag"],
                sides["skopeo new tag"],
                tag_floor,
                "<= 0.3x",
            )
        )
        print_phases("cold copy, slow link", duel)
    finally:
        for process in reversed(started):
            process.stop()
        vendor.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    bench_main(main)
