"""`make bench` (part 5): a single image over a slow link, pushgate against skopeo, same run.

The WAN emulator (tests/support/wan.py, its own process) sits between the copier and the
target registry: every connection to the target pays WAN_DELAY_MS each way and carries at most
WAN_RATE_MB_S. The source registry and the token server stay on loopback, for both contenders.
Cold copies go to a target whose storage is wiped before every measurement; re-pushes go to
the target the cold copy just filled.
"""

from __future__ import annotations

import os
import sys
import tempfile
from functools import partial
from pathlib import Path

import httpx

from tests.bench.common import (
    BENCH_TOKEN,
    SKOPEO_CACHE_NOTE,
    FreshVendor,
    MiB,
    Series,
    api_keys_file,
    push_and_wait,
    ratio_line,
    run_skopeo,
    skopeo_copy,
    timed,
)
from tests.support.images import ImageBuilder
from tests.support.services import Process, RedisServer, Registry
from tests.support.stack import service_env, start_api, start_worker
from tests.support.wan import WanProcess
from worker.engines import build_engine
from worker.reference import destination, parse_reference
from worker.settings import Secret, Settings

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
DELAY_MS = float(os.environ.get("WAN_DELAY_MS", "20"))
RATE_MB_S = float(os.environ.get("WAN_RATE_MB_S", "25"))
LAYERS = [8 * MiB, 8 * MiB, 8 * MiB]  # issue 11's image: three 8 MiB layers, incompressible


def main() -> None:
    """Time cold copies and re-pushes over the emulated link; print medians and ratios."""
    work = Path(tempfile.mkdtemp(prefix="pushgate-bench-wan-"))
    started: list[Process] = []
    source = Registry(work / "source")
    started.append(source)
    vendor = FreshVendor(work / "vendor", ["bench"])
    http = httpx.Client(timeout=300)
    try:
        wan = WanProcess(vendor.port, work / "wan.log", delay_ms=DELAY_MS, rate_mb_s=RATE_MB_S)
        started.append(wan)
        redis = RedisServer(work / "redis")
        started.append(redis)
        image = ImageBuilder(source.url).image("acme/wan", "1", LAYERS)
        src = f"{source.host}/acme/wan:1"
        settings = Settings(
            registry=wan.host,
            registry_username="bench",
            registry_token=Secret(BENCH_TOKEN),
            redis_url=redis.url,
            insecure_registries=frozenset({source.host, wan.host}),
            source_registries=frozenset({source.host}),
        )
        env = service_env(redis.url, source.host, wan.host, api_keys_file(work))
        api, url = start_api(env, work)
        started.append(api)
        worker_env = {"PUSHGATE_REGISTRY_TOKEN": BENCH_TOKEN, "PUSHGATE_REGISTRY_USERNAME": "b"}
        started.append(start_worker({**env, **worker_env}, work, "wan"))
        engine_s, service_s, skopeo_s = Series("engine"), Series("service"), Series("skopeo")
        repush_s, skopeo_repush_s = Series("service re-push"), Series("skopeo re-push")
        for run in range(RUNS):
            vendor.reset()
            engine = build_engine(settings)
            dest = destination(wan.host, "bench", "wan", "e")
            engine_s.seconds.append(timed(partial(engine.copy, parse_reference(src), [dest])))
            engine.close()
            vendor.reset()
            body = {"source": src, "app_slug": "bench", "target": "wan", "tag": f"s{run}"}
            service_s.seconds.append(timed(partial(push_and_wait, http, url, body)))
            repush_s.seconds.append(timed(partial(push_and_wait, http, url, body)))
            vendor.reset()
            skopeo_argv = skopeo_copy(src, f"{wan.host}/bench/wan:k")
            skopeo_s.seconds.append(run_skopeo(skopeo_argv)[0])
            skopeo_repush_s.seconds.append(run_skopeo(skopeo_argv)[0])
            print(
                f"run {run + 1}/{RUNS}: engine {engine_s.seconds[-1]:.3f}s  service "
                f"{service_s.seconds[-1]:.3f}s  re-push {repush_s.seconds[-1]:.3f}s  skopeo "
                f"{skopeo_s.seconds[-1]:.3f}s  skopeo re-push {skopeo_repush_s.seconds[-1]:.3f}s",
                file=sys.stderr,
                flush=True,
            )
        print(
            f"\nslow link to the target: {DELAY_MS:g} ms each way, {RATE_MB_S:g} MB/s per "
            f"connection (tests/support/wan.py); image: {len(LAYERS)} incompressible layers, "
            f"{sum(LAYERS) / MiB:.0f} MiB, {image.digest[:19]}; {RUNS} runs, medians"
        )
        print(SKOPEO_CACHE_NOTE)
        print(ratio_line("slow link: cold copy, engine", engine_s, skopeo_s))
        print(ratio_line("slow link: cold copy, whole service", service_s, skopeo_s))
        print(ratio_line("slow link: re-push, whole service", repush_s, skopeo_repush_s))
    finally:
        http.close()
        for process in reversed(started):
            process.stop()
        vendor.stop()


if __name__ == "__main__":
    main()
