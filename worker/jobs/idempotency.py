"""Idempotency records in Redis, handed out by the job store: which job a (scope, key) of an
idempotent submission made, and the fingerprint of its request body."""

from __future__ import annotations

from worker.jobs import keys
from worker.jobs.connection import StoreConnection, guard


class IdempotencyRecords:
    """One record per (scope, key) digest: "JOB_ID FINGERPRINT", kept for a TTL."""

    def __init__(self, connection: StoreConnection) -> None:
        self._redis = connection.client

    def remember(self, digest: str, job_id: str, fingerprint: str, ttl: int) -> str | None:
        """Record the job under `digest` unless one is there: None when recorded, else the
        earlier record ("JOB_ID FINGERPRINT")."""
        name, value = keys.idempotency(digest), f"{job_id} {fingerprint}"
        with guard():
            while not self._redis.set(name, value, nx=True, ex=ttl):
                existing = self._redis.get(name)
                if existing is not None:  # else it expired just now: try to take it again
                    return str(existing)
        return None

    def recall(self, digest: str) -> str | None:
        """The record under `digest` ("JOB_ID FINGERPRINT"), if any."""
        with guard():
            found = self._redis.get(keys.idempotency(digest))
        return None if found is None else str(found)

    def forget(self, digest: str) -> None:
        """Drop a record (its submission failed)."""
        with guard():
            self._redis.delete(keys.idempotency(digest))
