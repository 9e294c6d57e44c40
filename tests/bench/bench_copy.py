"""`make bench`: pushgate against skopeo in the same run, on loopback registries.

Cold copies go to a vendor stand-in whose storage is wiped before every measurement.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import httpx

from tests.bench.common import (
    BENCH_TOKEN,
    FreshVendor,
    MiB,
    Series,
    ratio_line,
    run_measured,
    skopeo_copy,
    timed,
)
from tests.support.images import ImageBuilder
from tests.support.services import RedisServer, Registry
from tests.support.stack import service_env, start_api, start_worker
from worker.reference import destination, parse_reference
from worker.registry.copier import CopyEngine
from worker.settings import Secret, Settings

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
LAYERS = [80 * MiB, 40 * MiB, 25 * MiB, 15 * MiB, 10 * MiB]  # ~170 MiB, incompressible
API_KEY = "bench-api-key-99"


def push_and_wait(http: httpx.Client, url: str, body: dict[str, object]) -> dict[str, object]:
    """POST a push and poll it to the end; returns the final job."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    job = http.post(f"{url}/v1/pushes", json=body, headers=headers).json()
    while job["status"] in ("queued", "running"):
        time.sleep(0.02)
        job = http.get(f"{url}/v1/pushes/{job['id']}", headers=headers).json()
    if job["status"] != "succeeded":
        raise RuntimeError(f"bench push failed: {job}")
    return job


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
    keys = work / "keys.json"
    keys.write_text(
        json.dumps(
            [
                {
                    "name": "bench",
                    "app_slugs": ["bench"],
                    "key_sha256": hashlib.sha256(API_KEY.encode()).hexdigest(),
                }
            ]
        )
    )
    env = service_env(redis.url, source.host, vendor.host, keys)
    api, url = start_api(env, work)
    worker = start_worker(
        {**env, "PUSHGATE_REGISTRY_TOKEN": BENCH_TOKEN, "PUSHGATE_REGISTRY_USERNAME": "bench"},
        work,
        "bench",
    )
    http = httpx.Client(timeout=120)
    engine_s, service_s, skopeo_s = Series("engine"), Series("service"), Series("skopeo")
    repush_s = Series("service re-push")
    try:
        for run in range(RUNS):
            vendor.reset()
            engine = CopyEngine.from_settings(settings)
            dest = destination(vendor.host, "bench", "big", "e")
            engine_s.seconds.append(timed(partial(engine.copy, parse_reference(src), [dest])))
            engine.close()
            vendor.reset()
            body = {"source": src, "app_slug": "bench", "target": "big", "tag": f"s{run}"}
            service_s.seconds.append(timed(partial(push_and_wait, http, url, body)))
            repush_s.seconds.append(timed(partial(push_and_wait, http, url, body)))
            vendor.reset()
            skopeo_argv = skopeo_copy(src, f"{vendor.host}/bench/big:k")
            skopeo_s.seconds.append(run_measured(skopeo_argv)[0])
            print(
                f"run {run + 1}/{RUNS}: engine {engine_s.seconds[-1]:.3f}s  service "
                f"{service_s.seconds[-1]:.3f}s  re-push {repush_s.seconds[-1]:.3f}s  skopeo "
                f"{skopeo_s.seconds[-1]:.3f}s",
                file=sys.stderr,
                flush=True,
            )
        vendor.reset()
        _, skopeo_rss = run_measured(skopeo_copy(src, f"{vendor.host}/bench/big:m"))
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
        print(ratio_line("cold copy, engine", engine_s, skopeo_s))
        print(ratio_line("cold copy, whole service (POST->done)", service_s, skopeo_s))
        print(f"{'re-push, target has every blob':<40} {repush_s.median:7.3f}s")
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
