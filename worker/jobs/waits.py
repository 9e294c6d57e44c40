"""Long-polls held at once per API key, counted in Redis so the cap holds across every API
process; each wait holds a lease, so a process that dies mid-wait frees its slots in time."""

from __future__ import annotations

import time
import uuid

from worker.jobs import keys
from worker.jobs.connection import StoreConnection, guard

LEASE_MARGIN = 5.0  # seconds a lease outlives its wait, for the answer to be written

# KEYS: the key's leases (zset: token -> expiry). ARGV: now, limit, token, expiry.
TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(ARGV[4])) + 1)
return 1
"""


class WaitSlots:
    """Leases on the long-polls of each API key (by the hash of the key, never the key)."""

    def __init__(self, connection: StoreConnection) -> None:
        self._redis = connection.client
        self._take = self._redis.register_script(TAKE)

    @staticmethod
    def _key(key_sha256: str) -> str:
        return keys.waits(key_sha256)

    def take(self, key_sha256: str, limit: int, seconds: float) -> str | None:
        """A lease token for a wait of `seconds`, or None when the key holds `limit` already."""
        token = uuid.uuid4().hex
        now = time.time()
        with guard():
            taken = self._take(
                keys=[self._key(key_sha256)],
                args=[now, limit, token, now + seconds + LEASE_MARGIN],
            )
        return token if taken else None

    def give_back(self, key_sha256: str, token: str) -> None:
        """End a lease (a wait that ended)."""
        with guard():
            self._redis.zrem(self._key(key_sha256), token)
