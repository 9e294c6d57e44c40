"""What the link or the registry alone needs for the same bytes: the floor each bench prints.

Loopback: a raw monolithic PUT of the same blobs, one after another, straight into a fresh
target registry (the blobs read from the source beforehand, a token fetched beforehand,
each body streamed from memory in 1 MiB pieces).
Slow link: the bytes the busiest connection carries over the per-connection rate, plus the
minimum round trips.
"""

from __future__ import annotations

import time

import httpx

from tests.bench.common import FreshVendor
from tests.bench.measure import bearer_token

PIECE = 1 << 20  # streamed in 1 MiB pieces: httpx sends one huge bytes body very slowly


def blobs_of(source_url: str, repository: str, digests: list[str]) -> list[tuple[str, bytes]]:
    """The blobs' bytes, read from the source registry."""
    with httpx.Client(base_url=source_url, timeout=600) as http:
        return [
            (d, http.get(f"/v2/{repository}/blobs/{d}").raise_for_status().content) for d in digests
        ]


def raw_put_seconds(target: FreshVendor, blobs: list[tuple[str, bytes]]) -> float:
    """Seconds the (wiped) target takes to receive `blobs` as monolithic POST + PUT uploads."""
    target.reset()
    repository = "bench/floor"
    with httpx.Client(base_url=f"http://{target.host}", timeout=600) as http:
        token = bearer_token(http, target.host, repository, "pull,push")
        http.headers["Authorization"] = f"Bearer {token}"
        start = time.perf_counter()
        for digest, data in blobs:
            location = http.post(f"/v2/{repository}/blobs/uploads/").raise_for_status()
            url = httpx.URL(f"http://{target.host}").join(location.headers["Location"])
            pieces = (data[i : i + PIECE] for i in range(0, len(data), PIECE))
            http.put(
                url.copy_merge_params({"digest": digest}),
                content=pieces,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(len(data)),
                },
            ).raise_for_status()
        return time.perf_counter() - start


def link_seconds(
    connections: list[int], delay_ms: float, rate_mb_s: float, round_trips: int
) -> float:
    """Seconds a link needs: the busiest connection's bytes over the per-connection rate, plus
    `round_trips` round trips of twice the one-way delay."""
    busiest = max(connections, default=0)
    return busiest / (rate_mb_s * 1_000_000) + round_trips * 2 * delay_ms / 1000


def spread(sizes: list[int], streams: int) -> list[int]:
    """Bytes per connection when `sizes` go largest first onto `streams` connections."""
    loads = [0] * max(1, streams)
    for size in sorted(sizes, reverse=True):
        loads[loads.index(min(loads))] += size
    return loads
