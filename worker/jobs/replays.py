"""The replay guard of signed chat requests, handed out by the job store: each signature is
accepted once while its timestamp is still fresh."""

from __future__ import annotations

import hashlib

from worker.jobs import keys
from worker.jobs.connection import StoreConnection, guard


class ReplayGuard:
    """Remembers the signatures of accepted requests for as long as they would verify."""

    def __init__(self, connection: StoreConnection, window: int) -> None:
        self.redis = connection.client
        self.window = window

    def first_time(self, signature: str) -> bool:
        """True the first time `signature` is seen within the window; False for a replay."""
        name = keys.chat_seen(hashlib.sha256(signature.encode()).hexdigest())
        with guard():
            return bool(self.redis.set(name, "1", nx=True, ex=self.window))
