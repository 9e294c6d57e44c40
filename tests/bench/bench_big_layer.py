"""`make bench`: one 1 GiB layer over loopback, the engine with default settings against skopeo.

Every measurement copies to a fresh (wiped) vendor stand-in; skopeo's blob-info cache is removed
before each skopeo run, so neither side can skip the upload.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx

from tests.bench.common import (
    BENCH_TOKEN,
    FreshVendor,
    MiB,
    Series,
    forget_skopeo_cache,
    ratio_line,
    run_measured,
    skopeo_copy,
    timed,
)
from tests.support.images import ImageBuilder
from tests.support.services import Registry
from worker.engines import build_engine
from worker.reference import destination, parse_reference
from worker.settings import Secret, Settings

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
LAYER = int(os.environ.get("BENCH_BIG_LAYER_MIB", "1024")) * MiB
# Settings measured beside the defaults: the old 64 MiB PATCHes, and one stream (a single PUT).
VARIANTS = [
    v
    for v in os.environ.get(
        "BENCH_BIG_VARIANTS", "chunk_size=67108864;chunk_threshold=4294967296"
    ).split(";")
    if v
]


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a live process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds of this process's finished children (skopeo, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(
    copy: Callable[[], object], ours: bool, vendor: FreshVendor, source: Registry
) -> tuple[float, float]:
    """(wall seconds, CPU seconds of copier + both registries) of one cold copy.

    CPU seconds say what a copy costs whatever else the machine runs; wall time on a shared
    machine says as much about the neighbours.
    """
    assert vendor.registry is not None
    registries = cpu_of(vendor.registry.proc.pid) + cpu_of(source.proc.pid)
    copier = time.process_time() if ours else children_cpu()
    seconds = timed(copy)
    copier = (time.process_time() if ours else children_cpu()) - copier
    registries = cpu_of(vendor.registry.proc.pid) + cpu_of(source.proc.pid) - registries
    return seconds, copier + registries


def _variant(settings: Settings, spec: str) -> Settings:
    fields = dict(part.split("=", 1) for part in spec.split(","))
    return dataclasses.replace(settings, **{k: int(v) for k, v in fields.items()})


def ingest(registry: Registry, chunk: int, block: bytes, digest: str) -> float:
    """Seconds for `registry` to take LAYER bytes (`block` repeated) in PATCHes of `chunk`."""
    http = httpx.Client(base_url=registry.url, timeout=600)
    started = time.perf_counter()
    location = http.post(f"/v2/ingest/c{chunk // MiB}/blobs/uploads/").headers["Location"]
    for offset in range(0, LAYER, chunk):
        n = min(chunk, LAYER - offset)
        answer = http.patch(
            location,
            content=(block for _ in range(n // len(block))),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + n - 1}",
                "Content-Length": str(n),
            },
        )
        answer.raise_for_status()
        location = answer.headers["Location"]
    url = httpx.URL(registry.url).join(location).copy_merge_params({"digest": digest})
    http.put(url).raise_for_status()
    http.close()
    return time.perf_counter() - started


def breakdown(source: Registry, layer_digest: str, work: Path) -> list[str]:
    """Where the time of one big layer goes: each step on its own, on the same machine."""
    lines = []
    with httpx.Client(timeout=600) as http:
        url = f"{source.url}/v2/acme/big-layer/blobs/{layer_digest}"
        started = time.perf_counter()
        with http.stream("GET", url) as response:
            for _ in response.iter_raw(MiB):
                pass
        lines.append(
            f"{'source GET, read in 1 MiB pieces':<44} {time.perf_counter() - started:7.3f}s"
        )
    block = os.urandom(MiB)
    hasher = hashlib.sha256()
    started = time.perf_counter()
    for _ in range(LAYER // MiB):
        hasher.update(block)
    lines.append(f"{'sha256 of the layer (ours)':<44} {time.perf_counter() - started:7.3f}s")
    digest = "sha256:" + hasher.hexdigest()
    for chunk in (LAYER, 512 * MiB, 64 * MiB):
        target = Registry(work / f"ingest-{chunk // MiB}")
        try:
            seconds = ingest(target, chunk, block, digest)
        finally:
            target.stop()
        patches = -(-LAYER // chunk)
        lines.append(
            f"{f'registry ingest, {patches} PATCH(es) of {chunk // MiB} MiB':<44} {seconds:7.3f}s"
        )
    return lines


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
        cpu = {name: Series(name) for name in [*contenders, "skopeo"]}
        skopeo = Series("skopeo")
        for run in range(RUNS):
            for name, chosen in contenders.items():
                vendor.reset()
                engine = build_engine(chosen)
                dest = destination(vendor.host, "bench", "big-layer", "e")
                wall, used = measured(partial(engine.copy, src, [dest]), True, vendor, source)
                series[name].seconds.append(wall)
                cpu[name].seconds.append(used)
                engine.close()
            vendor.reset()
            forget_skopeo_cache()
            argv = skopeo_copy(str(src), f"{vendor.host}/bench/big-layer:k")
            wall, used = measured(partial(run_measured, argv), False, vendor, source)
            skopeo.seconds.append(wall)
            cpu["skopeo"].seconds.append(used)
            print(
                f"run {run + 1}/{RUNS}: "
                + "  ".join(
                    f"{s.name} {s.seconds[-1]:.2f}s ({cpu[s.name].seconds[-1]:.2f} CPU s)"
                    for s in [*series.values(), skopeo]
                ),
                file=sys.stderr,
                flush=True,
            )
        print(
            f"\none {LAYER // MiB} MiB layer of random bytes, digest {image.digest[:19]}; "
            f"{RUNS} runs, medians"
        )
        for s in series.values():
            print(ratio_line(f"1 GiB layer, {s.name}", s, skopeo))
        print("\nCPU seconds per copy (copier + source and target registries), medians:")
        for name, used in cpu.items():
            print(
                f"{name:<44} {used.median:7.3f} CPU s = {used.median / cpu['skopeo'].median:5.2f}x"
            )
        print("\nwhere the time goes (one run each, same machine):")
        for line in breakdown(source, image.layers[0]["digest"], work):
            print(line)
    finally:
        vendor.stop()
        source.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
