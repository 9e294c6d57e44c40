"""Where a copy's time goes: named phases, each with its first start, the time from there to
its last end (`seconds`), and the time its steps took added up over every thread (`busy`).

The engine marks its steps with `phase(NAME)`; they are recorded in the PhaseClock of the
current context (the job side sets one per job; blob threads run in copies of the context, so
they record into the same clock), and cost nothing when no clock is set. Phases overlap: blob
checks run alongside the transfer of other blobs, so `seconds` of all phases add up to more
than the job took, and `busy` can exceed `seconds`.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar, cast

QUEUED = "queued"  # from the POST to the worker taking the job
CREDENTIALS = "credentials"  # logins and token requests
SOURCE_MANIFESTS = "source_manifests"  # reading the source's manifests (and index children)
BLOB_CHECKS = "blob_checks"  # what the target serves and holds: tag and blob HEADs, mounts
BLOB_TRANSFER = "blob_transfer"  # reading blobs from the source and uploading them
MANIFEST_WRITES = "manifest_writes"  # PUTs of child manifests and tags
VERIFICATION = "verification"  # checking what every destination tag serves afterwards
ORDER = [QUEUED, CREDENTIALS, SOURCE_MANIFESTS, BLOB_CHECKS, BLOB_TRANSFER, MANIFEST_WRITES]
ORDER.append(VERIFICATION)


@dataclass(frozen=True)
class Span:
    """One phase of a job: when it first started (epoch seconds), how long from there to its
    last end, and its steps' durations added up."""

    name: str
    start: float
    seconds: float
    busy: float


class PhaseClock:
    """The phases of one job, recorded from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: dict[str, list[float]] = {}  # name -> [first start, last end, busy]

    def add(self, name: str, start: float, end: float) -> None:
        """Count a step of phase `name` that ran from `start` to `end` (epoch seconds)."""
        with self._lock:
            span = self._spans.get(name)
            if span is None:
                self._spans[name] = [start, end, end - start]
                return
            span[0], span[1] = min(span[0], start), max(span[1], end)
            span[2] += end - start

    @contextmanager
    def span(self, name: str) -> Iterator[None]:
        """Count the block as a step of phase `name`."""
        start = time.time()
        try:
            yield
        finally:
            self.add(name, start, time.time())

    def spans(self) -> list[Span]:
        """Every phase seen, in ORDER (others after, by start)."""
        with self._lock:
            items = [Span(n, s[0], s[1] - s[0], s[2]) for n, s in self._spans.items()]
        rank = {name: i for i, name in enumerate(ORDER)}
        return sorted(items, key=lambda span: (rank.get(span.name, len(ORDER)), span.start))


current_phases: ContextVar[PhaseClock | None] = ContextVar("current_phases", default=None)
_within: ContextVar[str | None] = ContextVar("within_phase", default=None)
F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Count the block as a step of phase `name` of the current job (if one is timed).

    The outermost phase owns its block: a tag HEAD inside `verification` is verification, not
    a blob check. Only token requests are counted wherever they happen (and so also inside
    the phase that needed the token).
    """
    clock = current_phases.get()
    if clock is None or (_within.get() is not None and name != CREDENTIALS):
        yield
        return
    token = _within.set(name)
    try:
        with clock.span(name):
            yield
    finally:
        _within.reset(token)


def timed_as(name: str) -> Callable[[F], F]:
    """Decorate a function so each call counts as a step of phase `name`."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with phase(name):
                return function(*args, **kwargs)

        return cast(F, timed)

    return decorate
