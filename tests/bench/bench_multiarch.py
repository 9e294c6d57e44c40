"""`make bench` (part 2): a two-platform index against `skopeo copy --all`, and mounts.

Cold copies go to a vendor stand-in (accepting attestations) wiped before every measurement.
"""

from __future__ import annotations

import os
import sys
import tempfile
from functools import partial
from pathlib import Path

from tests.bench.common import (
    BENCH_TOKEN,
    SKOPEO_CACHE_NOTE,
    FreshVendor,
    MiB,
    Series,
    ratio_line,
    skopeo_copy,
    timed,
)
from tests.bench.measure import bench_main, checked_skopeo, header
from tests.support.images import ImageBuilder, multi_platform
from tests.support.services import Registry
from worker.engines import build_engine
from worker.reference import destination, parse_reference
from worker.registry.copier import CopyEngine
from worker.registry.destination import CopyOptions
from worker.settings import Secret, Settings

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
PLATFORM_LAYERS = [60 * MiB, 25 * MiB, 15 * MiB]  # ~100 MiB per platform
SHARED_BASE = [90 * MiB, 30 * MiB]  # what two images of one app have in common
OWN_LAYER = [8 * MiB]


def engine_for(vendor: FreshVendor, source: Registry) -> CopyEngine:
    """A fresh engine for the bench vendor (no pooled connections from an earlier run)."""
    return build_engine(
        Settings(
            registry=vendor.host,
            registry_username="bench",
            registry_token=Secret(BENCH_TOKEN),
            insecure_registries=frozenset({source.host, vendor.host}),
        )
    )


def main() -> None:
    """Time the multi-arch cold copy and the mount scenario; print medians and ratios."""
    work = Path(tempfile.mkdtemp(prefix="pushgate-bench-ma-"))
    source = Registry(work / "source")
    vendor = FreshVendor(work / "vendor", ["bench"])
    builder = ImageBuilder(source.url)
    top, _ = multi_platform(builder, "acme/multi", "1", PLATFORM_LAYERS, attestations="classic")
    base = [os.urandom(size) for size in SHARED_BASE]
    app_a = builder.image("acme/app-a", "1", OWN_LAYER, layers=base)
    builder.image("acme/app-b", "1", OWN_LAYER, layers=base)
    src = f"{source.host}/acme/multi:1"
    ours, skopeo = Series("engine"), Series("skopeo")
    mounted, uploaded = Series("with mounts"), Series("without mounts")
    header("two-platform index, loopback, engine in this process (time only)", RUNS)
    try:
        for run in range(RUNS):
            vendor.reset()
            engine = engine_for(vendor, source)
            ours.seconds.append(
                timed(
                    partial(
                        engine.copy,
                        parse_reference(src),
                        [destination(vendor.host, "bench", "multi", "1")],
                        options=CopyOptions(attestations="keep"),
                    )
                )
            )
            engine.close()
            vendor.reset()
            skopeo_argv = skopeo_copy(src, f"{vendor.host}/bench/multi:1", ["--all"])
            run_ = checked_skopeo(skopeo_argv, vendor.host, "bench/multi", "1", top.digest)
            skopeo.seconds.append(run_.wall)
            for series, lookup in ((mounted, True), (uploaded, False)):
                vendor.reset()
                engine = engine_for(vendor, source)
                engine.copy(
                    parse_reference(f"{source.host}/acme/app-a:1"),
                    [destination(vendor.host, "bench", "app-a", "1")],
                )
                holders = {layer["digest"]: "bench/app-a" for layer in app_a.layers}
                options = CopyOptions(
                    mount_lookup=(lambda digests, h=holders: {d: h[d] for d in digests if d in h})
                    if lookup
                    else None
                )
                series.seconds.append(
                    timed(
                        partial(
                            engine.copy,
                            parse_reference(f"{source.host}/acme/app-b:1"),
                            [destination(vendor.host, "bench", "app-b", "1")],
                            options=options,
                        )
                    )
                )
                engine.close()
            print(
                f"run {run + 1}/{RUNS}: index engine {ours.seconds[-1]:.3f}s skopeo --all "
                f"{skopeo.seconds[-1]:.3f}s; second app image with mounts "
                f"{mounted.seconds[-1]:.3f}s without {uploaded.seconds[-1]:.3f}s",
                file=sys.stderr,
                flush=True,
            )
        total = 2 * sum(PLATFORM_LAYERS) / MiB
        print(
            f"\nindex: 2 platforms + 2 attestations, {total:.0f} MiB, {top.digest[:19]}; "
            f"{RUNS} runs, medians"
        )
        print(SKOPEO_CACHE_NOTE)
        print(ratio_line("cold multi-arch copy, engine (keep)", ours, skopeo))
        print(ratio_line("second app image, mounts vs uploads", mounted, uploaded))
    finally:
        source.stop()
        vendor.stop()


if __name__ == "__main__":
    bench_main(main)
