"""Exponential backoff with full jitter, honouring Retry-After, bounded by a time budget."""

from __future__ import annotations

import contextvars
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from worker.errors import NetworkError, PushCancelled, PushError

# The stop check of the copy running in this context: backoff sleeps wake up for a cancel.
current_stop: ContextVar[Callable[[], None] | None] = ContextVar("current_stop", default=None)
_SLICE = 0.2


def interruptible_sleep(seconds: float) -> None:
    """Sleep, calling the current stop check every 0.2 s (it raises to end the wait)."""
    stop = current_stop.get()
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if stop is not None:
            stop()
        time.sleep(min(_SLICE, left))


@dataclass
class RetryStats:
    """Counts of retries: a policy's (the whole process's), or one job's (see job_retries)."""

    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self) -> None:
        """Count one retry here and in the job running in this context, if any."""
        with self._lock:
            self.retries += 1
        job = job_retries.get()
        if job is not None and job is not self:
            job.add()


# The retry counter of the job running in this context: several jobs share a process (and its
# policy), so a job's retries are counted where its threads run, never as a process-wide diff.
job_retries: ContextVar[RetryStats | None] = ContextVar("job_retries", default=None)


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep retrying transient failures: a time budget per operation.

    An operation retries while the registry keeps answering with something worth a retry,
    until `max_total_wait` seconds have passed since it began to fail (its first failure, or
    the first after progress); the job's deadline (the stop check the backoff sleep calls)
    can end it sooner. `attempts` only guards against a hot loop: it is not the budget.
    """

    attempts: int = 100
    base_delay: float = 0.2
    max_delay: float = 20.0
    max_total_wait: float = 120.0
    stats: RetryStats = field(default_factory=RetryStats, compare=False)
    # Injected by tests: the backoff sleep, the jitter draw (low, high) -> delay, the clock.
    sleep: Callable[[float], None] = field(default=interruptible_sleep, compare=False, repr=False)
    jitter: Callable[[float, float], float] = field(
        default=random.uniform, compare=False, repr=False
    )
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)

    def begin(self, what: str, replayable: bool = True) -> RetryState:
        """Start the budget of one operation (one try only when its body cannot be replayed)."""
        return RetryState(self, what, self.attempts if replayable else 1)


class RetryState:
    """The tries of one operation: call next_attempt() before each, failed() after a failure."""

    def __init__(self, policy: RetryPolicy, what: str, attempts: int) -> None:
        self.policy = policy
        self.what = what
        self.attempts = attempts
        self.started = self.since = policy.clock()
        self.tries = 0  # every try made, for the message
        self.failures = 0  # failures since the last progress: the backoff step and hot-loop guard
        self.spent = False
        self.last_error: PushError | None = None
        self._back_off = False

    def next_attempt(self) -> bool:
        """Sleep the backoff after a failure; False once the time budget or guard is spent.
        Raises PushCancelled when this is side work its copy no longer needs (SideWork)."""
        unneeded = _side_work.get()
        if unneeded is not None and unneeded.is_set():
            raise PushCancelled(f"{self.what}: not sent, the copy ended before it needed it")
        if self._back_off:
            left = self.since + self.policy.max_total_wait - self.policy.clock()
            hint = getattr(self.last_error, "retry_after", None)
            if self.failures >= self.attempts or left <= 0 or (hint is not None and hint > left):
                self.spent = self.attempts > 1
                return False
            # The last wait ends where the budget does: one more try there, then give up.
            delay = min(self._delay(hint), left)
            self.policy.stats.add()
            self.policy.sleep(delay)
            self._back_off = False
        elif self.tries >= self.attempts:
            return False
        self.tries += 1
        return True

    def _delay(self, hint: float | None) -> float:
        backoff = min(self.policy.max_delay, self.policy.base_delay * 2 ** (self.failures - 1))
        jittered = self.policy.jitter(backoff / 2, backoff)
        return max(jittered, float(hint)) if hint is not None else jittered

    def failed(self, error: PushError) -> None:
        """Record a failure; raise it at once when it is not worth retrying."""
        self.last_error = error
        if not error.retryable or error.budget_spent:
            raise error
        if self.failures == 0:  # the budget runs from the first failure, not a long try's start
            self.since = self.policy.clock()
        self.failures += 1
        self._back_off = True

    def progress(self) -> None:
        """Something landed (a chunk, a session): the budget and the backoff start over."""
        self.since = self.policy.clock()
        self.failures = 0

    def refund(self) -> None:
        """Give back the try just made (an auth round trip, not a failure): no backoff."""
        self.tries -= 1

    def give_up(self) -> PushError:
        """The error to raise once the budget is spent; an outer loop will not retry it."""
        error = self.last_error
        if error is None:
            return NetworkError(f"{self.what}: no attempt was made")
        if self.spent:
            elapsed = self.policy.clock() - self.started
            error.detail += f" (gave up after {self.tries} tries in {elapsed:.1f}s)"
            error.args = (error.detail,)
            error.budget_spent = True
        return error


# Set in a thread doing a copy's side work (SideWork.run): once set, its next attempt is not made.
_side_work: ContextVar[threading.Event | None] = ContextVar("side_work", default=None)


class SideWork:
    """Requests a copy starts alongside its source read (what the destinations serve), to
    overlap them. When the block they were started in raises (the source manifest is not
    there), their next attempt raises PushCancelled instead of going out: the request in
    flight finishes, but no token fetch or retry follows it for a copy that already failed."""

    def __init__(self) -> None:
        self._unneeded = threading.Event()

    def __enter__(self) -> SideWork:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is not None:
            self._unneeded.set()

    def submit(self, pool: Executor, work: Callable[..., object], *args: Any) -> Future[None]:
        """Run `work(*args)` on `pool`, in a copy of this context, as side work (see run)."""
        return pool.submit(contextvars.copy_context().run, self.run, work, *args)

    def run(self, work: Callable[..., object], *args: Any) -> None:
        """Call `work(*args)` (in a context of its own: see submit), its attempts ending once
        the block failed."""
        token = _side_work.set(self._unneeded)
        try:
            work(*args)
        finally:
            _side_work.reset(token)
