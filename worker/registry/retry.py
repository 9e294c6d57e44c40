"""Exponential backoff with full jitter, honouring Retry-After, bounded in count and total wait."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

from worker.errors import NetworkError, PushError

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
    """How often and how long to retry transient failures."""

    attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 20.0
    max_total_wait: float = 120.0
    stats: RetryStats = field(default_factory=RetryStats, compare=False)
    # Injected by tests: the backoff sleep and the jitter draw (low, high) -> delay.
    sleep: Callable[[float], None] = field(default=interruptible_sleep, compare=False, repr=False)
    jitter: Callable[[float, float], float] = field(
        default=random.uniform, compare=False, repr=False
    )

    def begin(self, what: str, replayable: bool = True) -> RetryState:
        """Start counting attempts for one operation (one only when it cannot be replayed)."""
        return RetryState(self, what, self.attempts if replayable else 1)


class RetryState:
    """The attempts of one operation: call next_attempt() before each try."""

    def __init__(self, policy: RetryPolicy, what: str, attempts: int) -> None:
        self.policy = policy
        self.what = what
        self.attempts_left = attempts
        self.waited = 0.0
        self.tries = 0
        self.last_error: PushError | None = None

    def next_attempt(self) -> bool:
        """Sleep the backoff for the next try; False when no try is left."""
        if self.attempts_left <= 0:
            return False
        if self.tries:
            delay = self._delay()
            if self.waited + delay > self.policy.max_total_wait:
                return False
            self.policy.stats.add()
            self.policy.sleep(delay)
            self.waited += delay
        self.attempts_left -= 1
        self.tries += 1
        return True

    def _delay(self) -> float:
        hint = getattr(self.last_error, "retry_after", None)
        backoff = min(self.policy.max_delay, self.policy.base_delay * 2 ** (self.tries - 1))
        jittered = self.policy.jitter(backoff / 2, backoff)
        return max(jittered, float(hint)) if hint is not None else jittered

    def failed(self, error: PushError) -> None:
        """Record a failure; raise it at once when it is not worth retrying."""
        self.last_error = error
        if not error.retryable:
            raise error

    def refund(self) -> None:
        """Give back the attempt just used (it was an auth round trip, not a failure)."""
        self.attempts_left += 1
        self.tries -= 1

    def give_up(self) -> PushError:
        """The error to raise once the attempts or the wait budget are spent."""
        if self.last_error is None:
            return NetworkError(f"{self.what}: no attempt was made")
        if self.tries > 1:
            self.last_error.detail += f" (gave up after {self.tries} attempts)"
            self.last_error.args = (self.last_error.detail,)
        return self.last_error
