"""`make bench`: what carrying a signature and an SBOM adds to a push, in the same run.

The same layers pushed twice per round to a token-auth registry (no referrers API, so the
fallback index is written) wiped before every measurement: once as a bare image, once signed
(cosign `.sig` tag), with an SPDX SBOM attached and the SBOM signed. Runs alternate; medians of
wall time, CPU seconds and registry requests; the load average is printed. The goal: the added
time is at most the round trips of the extra manifests.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from functools import partial
from pathlib import Path

import httpx

from tests.bench.common import BENCH_TOKEN, FreshVendor, MiB, Series, timed
from tests.bench.measure import load_average
from tests.support.images import ImageBuilder
from tests.support.services import Registry
from tests.support.signing import SigningKey, signed_image
from worker.engines import build_engine
from worker.reference import destination, parse_reference
from worker.registry.destination import CopyOptions
from worker.settings import Secret, Settings

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
LAYERS = [24 * MiB, 8 * MiB, 2 * MiB]


class Requests:
    """Counts the engine's registry requests by method."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def request(self, registry: str, method: str, code: str) -> None:
        """Count one request."""
        with self._lock:
            self.counts[method] += 1

    def retry(self, registry: str, reason: str) -> None:
        """Retries are requests too, counted by `request`."""


def _push(settings: Settings, source: str, name: str) -> tuple[float, float, Counter[str], int]:
    """One cold push: wall seconds, CPU seconds, requests by method, attachments carried."""
    requests = Requests()
    engine = build_engine(settings, observer=requests)
    dest = destination(settings.registry, "bench", name, "1")
    cpu, wall = time.process_time(), time.perf_counter()
    result = engine.copy(parse_reference(source), [dest], options=CopyOptions())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    engine.close()
    return wall, cpu, requests.counts, len(result.carried)


def round_trip(host: str) -> float:
    """The median seconds of one request to the target registry (a 401 to GET /v2/)."""
    with httpx.Client() as http:
        seconds = [timed(partial(http.get, f"http://{host}/v2/")) for _ in range(30)]
    return statistics.median(seconds)


def main() -> None:
    """Alternate bare and signed pushes to a fresh target; print medians and the difference."""
    work = Path(tempfile.mkdtemp(prefix="pushgate-bench-signed-"))
    source = Registry(work / "source")
    vendor = FreshVendor(work / "vendor", ["bench"])
    builder = ImageBuilder(source.url)
    layers = [os.urandom(size) for size in LAYERS]
    builder.image("acme/bare", "1", [], layers=layers)
    key = SigningKey.make(work / "keys", "release.pub")
    signed_image(
        builder, "acme/signed", "1", key, builder.image("acme/signed", "1", [], layers=layers)
    )
    settings = Settings(
        registry=vendor.host,
        registry_username="bench",
        registry_token=Secret(BENCH_TOKEN),
        insecure_registries=frozenset({source.host, vendor.host}),
        source_registries=frozenset({source.host}),
        token_realm_hosts=frozenset({vendor.tokens.host}),  # its realm is on another port
    )
    bare, signed = Series("bare"), Series("signed")
    cpu: dict[str, list[float]] = {"bare": [], "signed": []}
    requests: dict[str, Counter[str]] = {}
    carried = 0
    print(f"load average before: {load_average():.2f}", flush=True)
    try:
        for _ in range(RUNS):
            for series, repo in ((bare, "bare"), (signed, "signed")):
                vendor.reset()
                image = f"{source.host}/acme/{repo}:1"
                wall, seconds, counts, carried_now = _push(settings, image, repo)
                series.seconds.append(wall)
                cpu[repo].append(seconds)
                requests[repo] = counts
                carried = max(carried, carried_now)
        trip = round_trip(vendor.host)
    finally:
        vendor.stop()
        source.stop()
        builder.close()
    extra = sum(requests["signed"].values()) - sum(requests["bare"].values())
    added = signed.median - bare.median
    print("| push | median wall s | median CPU s | requests |")
    print("|---|---|---|---|")
    for series in (bare, signed):
        counts = requests[series.name]
        mix = ", ".join(f"{m} {n}" for m, n in sorted(counts.items()))
        cpu_median = sorted(cpu[series.name])[len(cpu[series.name]) // 2]
        print(f"| {series.name} | {series.median:.3f} | {cpu_median:.2f} | {mix} |")
    print(
        f"signed adds {added * 1000:.0f} ms ({added / bare.median:+.1%}) for {carried} attached "
        f"manifests and {extra} extra requests: {added / trip:.0f} round trips of "
        f"{trip * 1000:.1f} ms; load average after: {load_average():.2f}"
    )
    if carried != 3:
        print(f"expected 3 attachments carried, got {carried}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
