"""What the registry proxy does wrong (faults), what it counts, and a gate that holds uploads.

Faults break the transport (an error status, a dropped or cut connection, a stall, a flipped
bit, a slow link); the proxy's rules (proxy_rules.py) decide what the registry answers."""

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
    return Faults(
        error_503=0.08, error_429=0.05, drop=0.08, stall=0.04, stall_seconds=4.0, seed=seed
    )


# The bad link of issue 12: a 503 on every 4th request, a 429 with a plain-text body on every
# 7th, a connection dropped without an answer on every 11th: about 42% of requests fail.
FORTY_TWO_PERCENT = (("503", 4), ("429", 7), ("drop", 11))


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
    forwarded: list[Exchange] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    kinds: Counter[tuple[str, str]] = field(default_factory=Counter)  # (method, path's folder)
    answered: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, status
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

    def count(self, method: str, fragment: str) -> int:
        """How many requests of `method` with `fragment` in their path were answered."""
        with self.lock:
            return sum(1 for m, p, _ in self.answered if m == method and fragment in p)

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
        stats.kinds[kind] += 1
        nth = stats.kinds[kind]
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


def early_refusal(fault: str, retry_after: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """The status, headers and body of an injected 503 or 429."""
    if fault == "503":
        return 503, [("Content-Type", "text/plain")], b"upstream unavailable"
    headers = [("Content-Type", "text/plain"), ("Retry-After", retry_after)]
    return 429, headers, b"Too Many Requests: slow down"


HOLD_AT_MOST = 300.0  # seconds: a forgotten gate never hangs a test run for good


def repository_of(path: str) -> str:
    """The repository named by a /v2/<name>/blobs/... or /v2/<name>/manifests/... path."""
    name = path.split("/v2/", 1)[-1]
    for marker in ("/blobs/", "/manifests/"):
        name = name.split(marker, 1)[0]
    return name


class UploadGate:
    """Holds every blob upload PUT (its body already read) until opened; counts the held."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held_repositories: set[str] | None = None  # None: hold every repository
        self.waiting: Counter[str] = Counter()

    def __call__(self, method: str, path: str, nth: int) -> str | None:
        """The proxy's plan hook: wait here while the gate is closed; never injects a fault."""
        if method != "PUT" or "/blobs/uploads/" not in path:
            return None
        repository = repository_of(path)
        with self._cond:
            self.waiting[repository] += 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._is_open(repository), HOLD_AT_MOST)
            self.waiting[repository] -= 1
        return None

    def _is_open(self, repository: str) -> bool:
        return self._held_repositories is not None and repository not in self._held_repositories

    def wait_held(self, repositories: set[str], timeout: float = 120) -> None:
        """Wait until an upload of each of `repositories` is held at the gate."""
        with self._cond:
            held = self._cond.wait_for(
                lambda: all(self.waiting[r] > 0 for r in repositories), timeout
            )
        if not held:
            raise AssertionError(f"uploads held: {dict(self.waiting)}, wanted {repositories}")

    def open(self, *, except_for: set[str] | None = None) -> None:
        """Let uploads through, except those of `except_for` (held until open() again)."""
        with self._cond:
            self._held_repositories = set(except_for or ())
            self._cond.notify_all()
