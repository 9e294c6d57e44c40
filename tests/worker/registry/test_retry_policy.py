"""RetryState and RetryPolicy as a table: an injected clock and sleep, so nothing really waits.

The budget is time: an operation retries until `max_total_wait` seconds have passed since it
began to fail (or failed again after progress); the count of tries only guards a hot loop.
"""

from __future__ import annotations

import contextvars
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
    PushCancelled,
    PushError,
    RejectedError,
    TransientRegistryError,
)
from worker.registry.retry import RetryPolicy, SideWork


@dataclass
class FakeClock:
    """A clock that only moves when the policy sleeps on it."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def time(self) -> float:
        return self.now


def highest(low: float, high: float) -> float:
    return high


def lowest(low: float, high: float) -> float:
    return low


def policy(
    clock: FakeClock, jitter: Callable[[float, float], float] = highest, **settings: Any
) -> RetryPolicy:
    """A policy that sleeps on `clock` and draws its jitter from `jitter`."""
    return RetryPolicy(sleep=clock.sleep, jitter=jitter, clock=clock.time, **settings)


@dataclass
class Outcome:
    tries: int
    error: PushError | None


def drive(
    retry: RetryPolicy,
    failures: list[PushError],
    replayable: bool = True,
    clock: FakeClock | None = None,
    try_takes: float = 0.0,
) -> Outcome:
    """Run one operation the way the client does: fail with each error in turn, then succeed.

    Each try takes `try_takes` seconds on `clock` (a connect timeout, say).
    """
    state = retry.begin("doing it", replayable)
    pending = iter(failures)
    while state.next_attempt():
        if clock is not None:
            clock.now += try_takes
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
        # Many failures are fine while the time budget lasts: 11 tries inside 10 s.
        (highest, {"base_delay": 0.5, "max_delay": 1.0, "max_total_wait": 10.0}, 10,
         [0.5] + [1.0] * 9, 11, False),
        # Out of time: the last wait ends where the budget does, one more try, then give up.
        (highest, {"base_delay": 1.0, "max_delay": 4.0, "max_total_wait": 10.0}, 20,
         [1.0, 2.0, 4.0, 3.0], 5, True),
        # The count is only a hot-loop guard.
        (highest, {"attempts": 3, "base_delay": 0.1}, 3, [0.1, 0.2], 3, True),
        # A first try that works sleeps nothing.
        (highest, {}, 0, [], 1, False),
    ],
)  # fmt: skip
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
        assert f"(gave up after {tries} tries in " in outcome.error.detail
        assert outcome.error.budget_spent


@pytest.mark.parametrize("try_takes", [0.0, 0.3, 2.5])
def test_a_link_that_stays_down_fails_within_the_budget_plus_one_step_not_sooner(
    try_takes: float,
) -> None:
    clock = FakeClock()
    retry = policy(clock, base_delay=0.2, max_delay=2.0, max_total_wait=30.0)
    outcome = drive(retry, network(1000), clock=clock, try_takes=try_takes)
    assert outcome.error is not None and outcome.error.budget_spent
    # The budget runs from the first failure: the end of the first try.
    assert 30.0 <= clock.now - try_takes <= 30.0 + 2.0 + try_takes
    assert f"gave up after {outcome.tries} tries" in outcome.error.detail


def test_progress_renews_the_budget_and_restarts_the_backoff() -> None:
    clock = FakeClock()
    state = policy(clock, base_delay=1.0, max_delay=8.0, max_total_wait=10.0).begin("doing it")
    for _ in range(3):  # three rounds of three failures: 21 s in all, never 10 s without progress
        for _ in range(3):
            assert state.next_attempt()
            state.failed(NetworkError("reset"))
        assert state.next_attempt()
        state.progress()
        clock.now += 0.5
    assert clock.sleeps == pytest.approx([1.0, 2.0, 4.0] * 3)
    assert state.tries == 12


def test_the_retry_budget_restarts_for_each_request_in_an_outer_loop_but_is_never_nested() -> None:
    clock = FakeClock()
    retry = policy(clock, base_delay=1.0, max_delay=1.0, max_total_wait=5.0)
    inner = drive(retry, network(100))
    assert inner.error is not None and inner.error.budget_spent
    outer = retry.begin("copying a blob")
    assert outer.next_attempt()
    with pytest.raises(NetworkError) as caught:
        outer.failed(inner.error)  # spent already: the outer loop does not spend it again
    assert caught.value is inner.error
    assert clock.now == pytest.approx(5.0)


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


def test_a_retry_after_past_the_budget_gives_up_without_waiting() -> None:
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
    assert state.tries == 2


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


def test_a_long_try_that_fails_still_gets_the_whole_budget() -> None:
    clock = FakeClock()
    retry = policy(clock, base_delay=1.0, max_delay=1.0, max_total_wait=5.0)
    state = retry.begin("streaming a blob")
    assert state.next_attempt()
    clock.now += 600.0  # ten minutes of streaming, then the connection breaks
    state.failed(NetworkError("reset"))
    tries = 1
    while state.next_attempt():
        tries += 1
        state.failed(NetworkError("reset"))
    assert tries == 6 and clock.now == pytest.approx(605.0)


def test_side_work_makes_no_more_attempts_once_the_block_that_started_it_failed() -> None:
    policy, aside = RetryPolicy(), SideWork()
    tries: list[bool] = []
    with pytest.raises(NotFoundError), aside:
        contextvars.copy_context().run(
            aside.run, lambda: tries.append(policy.begin("asking").next_attempt())
        )
        raise NotFoundError("the source manifest is not there")
    assert tries == [True]  # while the block ran, attempts went out
    with pytest.raises(PushCancelled, match="asking: not sent, the copy ended"):
        contextvars.copy_context().run(aside.run, lambda: policy.begin("asking").next_attempt())
    assert policy.begin("the copy's own request").next_attempt()  # outside side work


def test_side_work_of_a_block_that_ended_well_goes_on() -> None:
    policy, aside = RetryPolicy(), SideWork()
    with aside:
        pass
    tries: list[bool] = []
    contextvars.copy_context().run(
        aside.run, lambda: tries.append(policy.begin("asking").next_attempt())
    )
    assert tries == [True]
