"""What the fault-injecting proxy does wrong, what it answers, and what it counts."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Faults:
    """What the proxy does wrong, per request, at these rates (0 to 1)."""

    error_503: float = 0.0
    error_429: float = 0.0
    retry_after: str = "1"
    drop: float = 0.0
    stall: float = 0.0
    stall_seconds: float = 3.0
    seed: int = 7
    only_methods: tuple[str, ...] = ()
    bandwidth: float = 0.0  # bytes per second for request bodies (0: unlimited)
    # Decides the fault of a request itself (method, path, nth such request) before the rates.
    plan: Callable[[str, str, int], str | None] | None = None
    # Faults by the proxy's request count: ("503", 4) fails every 4th request; first match wins.
    every: tuple[tuple[str, int], ...] = ()


def one_in_four(seed: int) -> Faults:
    """One request in four fails: 503, 429 (non-JSON), dropped mid-body, or stalled 4 s."""
    rates = dict(error_503=0.08, error_429=0.05, drop=0.08, stall=0.04)
    return Faults(**rates, retry_after="1", stall_seconds=4.0, seed=seed)


# The bad link of issue 12: a 503 on every 4th request, a 429 with a plain-text body on every
# 7th, a connection dropped without an answer on every 11th: about 42% of requests fail.
FORTY_TWO_PERCENT = (("503", 4), ("429", 7), ("drop", 11))


@dataclass
class Reply:
    """The proxy's answer to one request."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    cut: bool = False  # send half the body, then drop the connection
    close: bool = False  # close the connection after answering (the body was not all read)


@dataclass(frozen=True)
class Exchange:
    """One request the proxy forwarded and the upstream's answer."""

    method: str
    path: str
    status: int
    request_headers: dict[str, str]
    response_headers: dict[str, str]


@dataclass
class ProxyStats:
    """What the proxy saw and did."""

    requests: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    rejected_attestations: int = 0
    forwarded: list[Exchange] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    seen: Counter[tuple[str, str]] = field(default_factory=Counter)
    uploaded: int = 0  # request body bytes read from clients, whatever became of them
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_uploaded(self, count: int) -> None:
        """Count request body bytes read from a client."""
        with self.lock:
            self.uploaded += count

    def failed(self) -> int:
        """How many requests got an injected fault."""
        with self.lock:
            return sum(self.injected.values())

    def statuses(self, method: str, fragment: str) -> list[int]:
        """Upstream statuses of forwarded requests whose path contains `fragment`."""
        return [e.status for e in self.exchanges(method, fragment)]

    def exchanges(self, method: str, fragment: str) -> list[Exchange]:
        """Forwarded exchanges of `method` whose path contains `fragment`."""
        with self.lock:
            return [e for e in self.forwarded if e.method == method and fragment in e.path]


def draw_fault(
    f: Faults, stats: ProxyStats, rng: random.Random, method: str, path: str
) -> str | None:
    """Draw the fault for one request, if any, and count it in `stats`."""
    with stats.lock:
        stats.requests += 1
        count = stats.requests
        kind = (method, path.split("?")[0].rsplit("/", 1)[0])
        stats.seen[kind] += 1
        nth = stats.seen[kind]
    planned = f.plan(method, path, nth) if f.plan is not None else None
    planned = planned or next((name for name, n in f.every if count % n == 0), None)
    if planned:
        with stats.lock:
            stats.injected[planned] += 1
        return planned
    if f.only_methods and method not in f.only_methods:
        return None
    with stats.lock:
        roll = rng.random()
    for name, rate in (
        ("503", f.error_503),
        ("429", f.error_429),
        ("drop", f.drop),
        ("stall", f.stall),
    ):
        if roll < rate:
            with stats.lock:
                stats.injected[name] += 1
            return name
        roll -= rate
    return None
