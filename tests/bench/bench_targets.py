"""`make bench`: one push to two targets at once against two sequential `skopeo copy` runs.

Both targets are token-auth registries wiped before every measurement (cold); skopeo's
blob-info cache is removed before each skopeo run. pushgate reads each blob from the source
once and streams it into both targets; skopeo copies twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

from deploy.demo_stack.pushgate import service_env, start_api, start_worker
from tests.bench.common import (
    BENCH_TOKEN,
    SKOPEO_CACHE_NOTE,
    FreshVendor,
    MiB,
    Series,
    ratio_line,
    skopeo_copy,
)
from tests.bench.measure import bench_main, checked_skopeo, header
from tests.support.images import ImageBuilder
from tests.support.services import RedisServer, Registry

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
LAYERS = [80 * MiB, 40 * MiB, 25 * MiB, 15 * MiB, 10 * MiB]  # ~170 MiB, incompressible
API_KEY = "bench-targets-key-31"


def push_and_wait(http: httpx.Client, url: str, body: dict[str, object]) -> float:
    """POST a push, poll it to the end; the seconds from POST to done."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    start = time.perf_counter()
    job = http.post(f"{url}/v1/pushes", json=body, headers=headers).json()
    while job["status"] in ("queued", "running"):
        time.sleep(0.02)
        job = http.get(f"{url}/v1/pushes/{job['id']}", headers=headers).json()
    elapsed = time.perf_counter() - start
    if job["status"] != "succeeded":
        raise RuntimeError(f"bench push failed: {job}")
    return elapsed


def _files(work: Path, second: str) -> tuple[Path, Path]:
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
    (work / "second-token").write_text(BENCH_TOKEN)
    targets = work / "targets.yaml"
    targets.write_text(
        f'- {{name: second, registry: "{second}", username: bench, '
        "token_file: second-token, insecure: true}\n"
    )
    return keys, targets


def main() -> None:
    """Run the benchmark and print medians and the ratio."""
    work = Path(tempfile.mkdtemp(prefix="pushgate-bench-targets-"))
    source = Registry(work / "source")
    first = FreshVendor(work / "first", ["bench"])
    second = FreshVendor(work / "second", ["bench"])
    redis = RedisServer(work / "redis")
    builder = ImageBuilder(source.url)
    image = builder.image("acme/big", "1.0", LAYERS)
    src, digest = f"{source.host}/acme/big:1.0", image.digest
    keys, targets = _files(work, second.host)
    env = service_env(redis.url, source.host, first.host, keys, PUSHGATE_TARGETS_FILE=str(targets))
    api, url = start_api(env, work)
    worker = start_worker(
        {**env, "PUSHGATE_REGISTRY_TOKEN": BENCH_TOKEN, "PUSHGATE_REGISTRY_USERNAME": "bench"},
        work,
        "bench",
    )
    http = httpx.Client(timeout=300)
    both, one, skopeo = Series("pushgate, 2 targets"), Series("1 target"), Series("skopeo x2")
    header("one push to two targets against skopeo twice, loopback (time only)", RUNS)
    try:
        for run in range(RUNS):
            body = {"source": src, "app_slug": "bench", "target": "big", "tag": f"r{run}"}
            first.reset()
            second.reset()
            both.seconds.append(
                push_and_wait(http, url, {**body, "targets": ["replicated", "second"]})
            )
            first.reset()
            one.seconds.append(push_and_wait(http, url, {**body, "targets": ["replicated"]}))
            first.reset()
            second.reset()
            skopeo.seconds.append(
                sum(
                    checked_skopeo(
                        skopeo_copy(src, f"{v.host}/bench/big:k"), v.host, "bench/big", "k", digest
                    ).wall
                    for v in (first, second)
                )
            )
            print(
                f"run {run + 1}/{RUNS}: two targets {both.seconds[-1]:.3f}s  one target "
                f"{one.seconds[-1]:.3f}s  skopeo twice {skopeo.seconds[-1]:.3f}s",
                file=sys.stderr,
                flush=True,
            )
        size = sum(LAYERS) / MiB
        print(
            f"\nimage: {len(LAYERS)} incompressible layers, {size:.0f} MiB, digest "
            f"{image.digest[:19]}; {RUNS} runs, medians; cold targets; {SKOPEO_CACHE_NOTE}"
        )
        print(ratio_line("two targets, one push (POST->done)", both, skopeo))
        print(ratio_line("one target, for scale (POST->done)", one, skopeo))
    finally:
        http.close()
        for process in (worker, api, redis, source):
            process.stop()
        first.stop()
        second.stop()


if __name__ == "__main__":
    bench_main(main)
