"""The Redis connection of the job system, and the one place a Redis outage becomes an error.

Only the store and the objects it hands out hold a `StoreConnection` (and name keys only from
worker/jobs/keys.py); every call they make runs inside `guard()`, so an outage reaches callers
as StoreUnavailable and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from worker.errors import StoreUnavailable

# What an outage looks like to redis-py: no connection, a timeout, or a server still loading.
OUTAGES = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)


@contextmanager
def guard() -> Iterator[None]:
    """Turn a Redis outage inside the block into StoreUnavailable."""
    try:
        yield
    except OUTAGES as exc:
        raise StoreUnavailable(f"the job store (Redis) is unreachable: {exc}") from None


class StoreConnection:
    """A Redis client with short timeouts, so outages surface within seconds."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @classmethod
    def from_url(cls, url: str) -> StoreConnection:
        """A connection pool on the Redis at `url`."""
        return cls(
            redis.Redis.from_url(
                url,
                decode_responses=True,
                socket_timeout=5,
                socket_connect_timeout=2,
                health_check_interval=10,
            )
        )

    def close(self) -> None:
        """Close the pool's connections."""
        self.client.close()
