"""RetryState and RetryPolicy as a table: an injected clock and sleep, so nothing really waits."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from worker.errors import (
    AuthError,
    NetworkError,
    NotFoundError,
    PlainHttpError,
    PushError,
    RejectedError,
    TransientRegistryError,
)
from worker.registry.retry import RetryPolicy


@dataclass
class FakeClock:
    """A clock that only moves when the policy sleeps on it."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def highest(low: float, high: float) -> float:
    return high


def lowest(low: float, high: float) -> float:
    return low


def policy(
    clock: FakeClock, jitter: Callable[[float, float], float] = highest, **settings: Any
) -> RetryPolicy:
    """A policy that sleeps on `clock` and draws its jitter from `jitter`."""
    return RetryPolicy(sleep=clock.sleep, jitter=jitter, **settings)


@dataclass
class Outcome:
    tries: int
    error: PushError | None


def drive(retry: RetryPolicy, failures: list[PushError], replayable: bool = True) -> Outcome:
    """Run one operation the way the client does: fail with each error in turn, then succeed."""
    state = retry.begin("doing it", replayable)
    pending = iter(failures)
    while state.next_attempt():
        error = next(pending, None)
        if error is None:
            return Outcome(state.tries, None)
        state.failed(error)
    return Outcome(state.tries, state.give_up())


def network(n: int) -> list[PushError]:
    return [NetworkError(f"reset {i}") for i in range(n)]


@pytest.mark.parametrize(
    ("jitter", "settings", "failures", "sleeps", "tries", "gave_up"),
    [
        # Exponential from base_delay, capped at max_delay; full jitter draws in [b/2, b].
        (highest, {"base_delay": 0.2, "max_delay": 1.0}, 5, [0.2, 0.4, 0.8, 1.0, 1.0], 6, False),
        (lowest, {"base_delay": 0.2, "max_delay": 1.0}, 5, [0.1, 0.2, 0.4, 0.5, 0.5], 6, False),
        # Out of attempts: the last error, saying how many tries it took.
        (highest, {"attempts": 3, "base_delay": 0.1}, 3, [0.1, 0.2], 3, True),
        # The next wait would pass max_total_wait (0.4 + 0.8 > 1.0): give up without it.
        (highest, {"base_delay": 0.4, "max_total_wait": 1.0}, 6, [0.4], 2, True),
        # A first try that works sleeps nothing.
        (highest, {}, 0, [], 1, False),
    ],
)
def test_backoff_table(
    jitter: Callable[[float, float], float],
    settings: dict[str, float],
    failures: int,
    sleeps: list[float],
    tries: int,
    gave_up: bool,
) -> None:
    clock = FakeClock()
    outcome = drive(policy(clock, jitter, **settings), network(failures))
    assert clock.sleeps == pytest.approx(sleeps)
    assert clock.now == pytest.approx(sum(sleeps))
    assert outcome.tries == tries
    assert (outcome.error is not None) == gave_up
    if outcome.error is not None:
        assert isinstance(outcome.error, NetworkError)
        assert outcome.error.detail.endswith(f"(gave up after {tries} attempts)")


def test_random_jitter_stays_within_the_backoff_bounds() -> None:
    clock = FakeClock()
    retry = policy(clock, random.Random(8).uniform, attempts=8, base_delay=0.2, max_delay=2.0)
    drive(retry, network(7))
    bounds = [min(2.0, 0.2 * 2**i) for i in range(7)]
    assert len(clock.sleeps) == 7
    for slept, bound in zip(clock.sleeps, bounds, strict=True):
        assert bound / 2 <= slept <= bound
    assert retry.stats.retries == 7


@pytest.mark.parametrize(
    ("retry_after", "slept"),
    [(3.0, 3.0), (0.05, 0.2), (None, 0.2)],  # the longer of Retry-After and the backoff
)
def test_retry_after_is_honoured(retry_after: float | None, slept: float) -> None:
    clock = FakeClock()
    busy = TransientRegistryError("doing it: HTTP 429", 429, retry_after)
    outcome = drive(policy(clock, base_delay=0.2), [busy])
    assert outcome.error is None
    assert clock.sleeps == pytest.approx([slept])


def test_retry_after_counts_against_the_total_wait() -> None:
    clock = FakeClock()
    busy = TransientRegistryError("doing it: HTTP 503", 503, 30.0)
    outcome = drive(policy(clock, max_total_wait=10.0), [busy])
    assert outcome.error is busy and outcome.tries == 1
    assert clock.sleeps == []


def test_refund_gives_back_the_attempt_without_a_sleep() -> None:
    clock = FakeClock()
    state = policy(clock, attempts=2).begin("doing it")
    assert state.next_attempt()
    state.refund()  # an auth round trip, not a failure
    assert state.next_attempt() and clock.sleeps == []
    state.failed(NetworkError("reset"))
    assert state.next_attempt() and len(clock.sleeps) == 1
    state.failed(NetworkError("reset"))
    assert not state.next_attempt()


@pytest.mark.parametrize(
    "error",
    [
        AuthError("doing it: denied"),
        NotFoundError("doing it: not found"),
        RejectedError("doing it: refused"),
        PushError("doing it: broke"),
        PlainHttpError("doing it: TLS to plain HTTP"),
    ],
)
def test_errors_not_worth_a_retry_are_raised_at_once(error: PushError) -> None:
    clock = FakeClock()
    with pytest.raises(type(error)) as caught:
        drive(policy(clock), [error, *network(2)])
    assert caught.value is error
    assert clock.sleeps == []


def test_a_streamed_body_gets_one_attempt() -> None:
    clock = FakeClock()
    outcome = drive(policy(clock), network(1), replayable=False)
    assert outcome.tries == 1 and isinstance(outcome.error, NetworkError)
    assert "gave up" not in outcome.error.detail
    assert clock.sleeps == []
