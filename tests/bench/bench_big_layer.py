"""`make bench`: one 1 GiB layer over loopback, the engine with default settings against skopeo.

Every measurement copies to a fresh (wiped) vendor stand-in; skopeo's blob-info cache is removed
before each skopeo run, so neither side can skip the upload.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from tests.bench.common import (
    BENCH_TOKEN,
    FreshVendor,
    MiB,
    Series,
    forget_skopeo_blobs,
    ratio_line,
    run_measured,
    skopeo_copy,
    timed,
)
from tests.support.images import ImageBuilder
from tests.support.services import Registry
from worker.reference import destination, parse_reference
from worker.registry.copier import CopyEngine
from worker.settings import Secret, Settings

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
LAYER = int(os.environ.get("BENCH_BIG_LAYER_MIB", "1024")) * MiB
# Other settings to measure beside the defaults, e.g. "chunk_size=67108864;chunk_threshold=..."
VARIANTS = [v for v in os.environ.get("BENCH_BIG_VARIANTS", "").split(";") if v]


def _variant(settings: Settings, spec: str) -> Settings:
    fields = dict(part.split("=", 1) for part in spec.split(","))
    return dataclasses.replace(settings, **{k: int(v) for k, v in fields.items()})


def main() -> None:
    """Copy one big layer cold, RUNS times each, and print medians and the ratio."""
    work = Path(tempfile.mkdtemp(prefix="pushgate-bench-big-"))
    source = Registry(work / "source")
    vendor = FreshVendor(work / "vendor", ["bench"])
    try:
        started = time.perf_counter()
        image = ImageBuilder(source.url).image("acme/big-layer", "1", [], streamed=[LAYER])
        print(f"source image built in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        src = parse_reference(f"{source.host}/acme/big-layer:1")
        settings = Settings(
            registry=vendor.host,
            registry_username="bench",
            registry_token=Secret(BENCH_TOKEN),
            insecure_registries=frozenset({source.host, vendor.host}),
            source_registries=frozenset({source.host}),
        )
        contenders = {"engine (defaults)": settings} | {
            f"engine ({spec})": _variant(settings, spec) for spec in VARIANTS
        }
        series = {name: Series(name) for name in contenders}
        skopeo = Series("skopeo")
        for run in range(RUNS):
            for name, chosen in contenders.items():
                vendor.reset()
                engine = CopyEngine.from_settings(chosen)
                dest = destination(vendor.host, "bench", "big-layer", "e")
                series[name].seconds.append(timed(partial(engine.copy, src, [dest])))
                engine.close()
            vendor.reset()
            forget_skopeo_blobs()
            skopeo.seconds.append(
                run_measured(skopeo_copy(str(src), f"{vendor.host}/bench/big-layer:k"))[0]
            )
            print(
                f"run {run + 1}/{RUNS}: "
                + "  ".join(f"{s.name} {s.seconds[-1]:.3f}s" for s in [*series.values(), skopeo]),
                file=sys.stderr,
                flush=True,
            )
        print(
            f"\none {LAYER // MiB} MiB layer of random bytes, digest {image.digest[:19]}; "
            f"{RUNS} runs, medians"
        )
        for s in series.values():
            print(ratio_line(f"1 GiB layer, {s.name}", s, skopeo))
    finally:
        vendor.stop()
        source.stop()


if __name__ == "__main__":
    main()
