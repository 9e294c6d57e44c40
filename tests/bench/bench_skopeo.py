"""`make bench` (part 4): what skopeo does where pushgate is tested to succeed.

These are observations of skopeo, not of pushgate, so they are reported here rather than
asserted in `make test`: the vendor front's 400 to a manifest that carries attestations, and
one request in four failing (skopeo retries the whole image, `--retry-times 5`). The engine
runs through the same fronts, on the same images, for contrast.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

from tests.bench.common import (
    BENCH_TOKEN,
    SKOPEO_CACHE_NOTE,
    FreshVendor,
    forget_skopeo_cache,
    skopeo_copy,
)
from tests.bench.measure import bench_main, check_served
from tests.support.images import ImageBuilder, multi_platform
from tests.support.proxy import RegistryProxy, one_in_four
from tests.support.proxy_rules import RefuseAttestations
from tests.support.services import Registry
from worker.engines import build_engine
from worker.errors import PushError
from worker.reference import destination, parse_reference
from worker.settings import Secret, Settings

KiB = 1024


def skopeo_outcome(argv: list[str], check: tuple[str, str, str, str]) -> str:
    """Run skopeo from a removed cache; 'succeeded' or 'failed (exit N): last error line'.

    A success is checked: the registry `check` names (host, repository, tag, digest) must
    serve the source's digest, else the run is void.
    """
    forget_skopeo_cache()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode == 0:
        check_served("skopeo", *check)
        return "succeeded (the target serves the source's digest)"
    text = result.stderr.strip()
    names_400 = "400" in text or "manifest invalid" in text.lower()
    last = (text.splitlines() or ["(no output)"])[-1]
    return f"failed (exit {result.returncode}; names a 400: {names_400}): ...{last[-160:]}"


def engine_outcome(settings: Settings, source: str, front: RegistryProxy, repo: str) -> str:
    """Copy with the engine through `front`; 'succeeded (digest)' or the typed error."""
    engine = build_engine(replace(settings, registry=front.host))
    try:
        result = engine.copy(parse_reference(source), [destination(front.host, "bench", repo, "1")])
    except PushError as exc:
        return f"failed: {type(exc).__name__}: {exc}"
    finally:
        engine.close()
    return f"succeeded ({result.digest[:19]})"


def main() -> None:
    """Run skopeo and the engine through the attestation front and the faulty front."""
    work = Path(tempfile.mkdtemp(prefix="pushgate-bench-sk-"))
    source = Registry(work / "source")
    vendor = FreshVendor(work / "vendor", ["bench"])
    builder = ImageBuilder(source.url)
    fronts = [
        RegistryProxy(vendor.port, RefuseAttestations()),
        RegistryProxy(vendor.port, faults=one_in_four(seed=11)),
        RegistryProxy(vendor.port, faults=one_in_four(seed=11)),
    ]
    attesting, skopeo_faulty, engine_faulty = fronts
    try:
        index, _ = multi_platform(builder, "acme/attested", "1", [KiB], attestations="classic")
        small_image = builder.image("acme/small", "1", [32 * KiB] * 10)
        settings = Settings(
            registry=vendor.host,
            registry_username="bench",
            registry_token=Secret(BENCH_TOKEN),
            insecure_registries=frozenset({source.host, *(front.host for front in fronts)}),
            retry_attempts=10,
            stall_timeout=2.0,
            retry_max_wait=60.0,
        )
        attested = f"{source.host}/acme/attested:1"
        small = f"{source.host}/acme/small:1"
        print(SKOPEO_CACHE_NOTE)
        print("\nvendor front answering 400 MANIFEST_INVALID to attestations, 2-platform index:")
        argv = skopeo_copy(attested, f"{attesting.host}/bench/attested:1", ["--all"])
        outcome = skopeo_outcome(argv, (vendor.host, "bench/attested", "1", index.digest))
        print(f"  skopeo copy --all      {outcome}")
        outcome = engine_outcome(settings, attested, attesting, "attested")
        print(f"  pushgate engine        {outcome}")
        print("\none request in four failing (503, 429, dropped, stalled), 10 layers of 32 KiB:")
        argv = skopeo_copy(small, f"{skopeo_faulty.host}/bench/small:1", ["--retry-times", "5"])
        outcome = skopeo_outcome(argv, (vendor.host, "bench/small", "1", small_image.digest))
        print(f"  skopeo --retry-times 5 {outcome}")
        print(f"    the front injected {dict(skopeo_faulty.stats.injected)}")
        outcome = engine_outcome(settings, small, engine_faulty, "small")
        print(f"  pushgate engine        {outcome}")
        print(f"    the front injected {dict(engine_faulty.stats.injected)}")
    finally:
        for front in fronts:
            front.stop()
        source.stop()
        vendor.stop()


if __name__ == "__main__":
    bench_main(main)
