"""`make bench`: pushgate against skopeo in the same run, on loopback registries.

Cold copies go to a vendor stand-in whose storage is wiped before every measurement.
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
    run_measured,
    run_skopeo,
    skopeo_copy,
    timed,
)
from tests.support.images import ImageBuilder
from tests.support.services import RedisServer, Registry
from tests.support.stack import service_env, start_api, start_worker
from worker.engines import build_engine
from worker.reference import destination, parse_reference
from worker.settings import Secret, Settings

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
LAYERS = [80 * MiB, 40 * MiB, 25 * MiB, 15 * MiB, 10 * MiB]  # ~170 MiB, incompressible


def main() -> None:
    """Run every benchmark and print medians and ratios."""
    work = Path(tempfile.mkdtemp(prefix="pushgate-bench-"))
    source = Registry(work / "source")
    vendor = FreshVendor(work / "vendor", ["bench"])
    redis = RedisServer(work / "redis")
    builder = ImageBuilder(source.url)
    image = builder.image("acme/big", "1.0", LAYERS)
    src = f"{source.host}/acme/big:1.0"
    settings = Settings(
        registry=vendor.host,
        registry_username="bench",
        registry_token=Secret(BENCH_TOKEN),
        redis_url=redis.url,
        insecure_registries=frozenset({source.host, vendor.host}),
        source_registries=frozenset({source.host}),
    )
    env = service_env(redis.url, source.host, vendor.host, api_keys_file(work))
    api, url = start_api(env, work)
    worker = start_worker(
        {**env, "PUSHGATE_REGISTRY_TOKEN": BENCH_TOKEN, "PUSHGATE_REGISTRY_USERNAME": "bench"},
        work,
        "bench",
    )
    http = httpx.Client(timeout=120)
    engine_s, service_s, skopeo_s = Series("engine"), Series("service"), Series("skopeo")
    repush_s, skopeo_repush_s = Series("service re-push"), Series("skopeo re-push")
    try:
        for run in range(RUNS):
            vendor.reset()
            engine = build_engine(settings)
            dest = destination(vendor.host, "bench", "big", "e")
            engine_s.seconds.append(timed(partial(engine.copy, parse_reference(src), [dest])))
            engine.close()
            vendor.reset()
            body = {"source": src, "app_slug": "bench", "target": "big", "tag": f"s{run}"}
            service_s.seconds.append(timed(partial(push_and_wait, http, url, body)))
            repush_s.seconds.append(timed(partial(push_and_wait, http, url, body)))
            vendor.reset()
            skopeo_argv = skopeo_copy(src, f"{vendor.host}/bench/big:k")
            skopeo_s.seconds.append(run_skopeo(skopeo_argv)[0])
            skopeo_repush_s.seconds.append(run_skopeo(skopeo_argv)[0])
            print(
                f"run {run + 1}/{RUNS}: engine {engine_s.seconds[-1]:.3f}s  service "
                f"{service_s.seconds[-1]:.3f}s  re-push {repush_s.seconds[-1]:.3f}s  skopeo "
                f"{skopeo_s.seconds[-1]:.3f}s",
                file=sys.stderr,
                flush=True,
            )
        vendor.reset()
        _, skopeo_rss = run_skopeo(skopeo_copy(src, f"{vendor.host}/bench/big:m"))
        vendor.reset()
        _, engine_rss = run_measured(
            [sys.executable, "-m", "tests.bench.engine_once", src, f"{vendor.host}/bench/big:m"],
            env={**env, "PUSHGATE_REGISTRY_TOKEN": BENCH_TOKEN},
        )
        size = sum(LAYERS) / MiB
        print(
            f"\nimage: {len(LAYERS)} incompressible layers, {size:.0f} MiB, digest "
            f"{image.digest[:19]}; {RUNS} runs, medians"
        )
        print(SKOPEO_CACHE_NOTE)
        print(ratio_line("cold copy, engine", engine_s, skopeo_s))
        print(ratio_line("cold copy, whole service (POST->done)", service_s, skopeo_s))
        print(ratio_line("re-push, target has every blob", repush_s, skopeo_repush_s))
        print(
            f"{'peak RSS, engine process vs skopeo':<40} {engine_rss} MiB vs {skopeo_rss} MiB "
            f"= {engine_rss / skopeo_rss:5.2f}x"
        )
    finally:
        http.close()
        for process in (worker, api, redis, source):
            process.stop()
        vendor.stop()


if __name__ == "__main__":
    main()
