"""Shared memory of the workers in Redis, handed out by the job store: the blob ledger (where
cross-repository mounts come from), the layer gzip cache and the daemon tag lock."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping
from types import TracebackType
from typing import Any

from redis.exceptions import LockError

from worker.errors import DeadlineExceeded
from worker.jobs import keys
from worker.jobs.connection import StoreConnection, guard

CACHE_TTL = 30 * 86400  # unused entries go when an app stops pushing


class BlobLedger:
    """Which repository of each app last received each blob, to mount instead of upload."""

    def __init__(self, connection: StoreConnection, ttl: float = CACHE_TTL) -> None:
        self._redis = connection.client
        self.ttl = int(ttl)

    @staticmethod
    def key(app_slug: str) -> str:
        """The Redis key of an app's ledger: a hash of blob digest -> repository."""
        return keys.blob_ledger(app_slug)

    def record(self, app_slug: str, repository: str, digests: Iterable[str]) -> None:
        """Note that `repository` (e.g. myapp/worker) now holds these blobs."""
        mapping: dict[Any, Any] = {digest: repository for digest in digests}
        if mapping:
            with guard(), self._redis.pipeline(transaction=False) as pipe:
                pipe.hset(self.key(app_slug), mapping=mapping)
                pipe.expire(self.key(app_slug), self.ttl)
                pipe.execute()

    def holders(self, app_slug: str, digests: list[str]) -> dict[str, str]:
        """For each digest pushed before, the app repository that holds it."""
        if not digests:
            return {}
        with guard():
            found = self._redis.hmget(self.key(app_slug), digests)
        return {d: str(repo) for d, repo in zip(digests, found, strict=True) if repo}


class LayerCache(MutableMapping[str, str]):
    """A Redis hash as a str -> str mapping (e.g. layer diff_id -> its gzip's digest and size)."""

    def __init__(self, connection: StoreConnection, key: str, ttl: float = CACHE_TTL) -> None:
        self._redis, self.key, self.ttl = connection.client, key, int(ttl)

    def __getitem__(self, name: str) -> str:
        with guard():
            value = self._redis.hget(self.key, name)
        if value is None:
            raise KeyError(name)
        return str(value)

    def __setitem__(self, name: str, value: str) -> None:
        with guard(), self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.key, name, value)
            pipe.expire(self.key, self.ttl)
            pipe.execute()

    def __delitem__(self, name: str) -> None:
        with guard():
            self._redis.hdel(self.key, name)

    def __iter__(self) -> Iterator[str]:
        with guard():
            names = self._redis.hkeys(self.key)
        return (str(k) for k in names)

    def __len__(self) -> int:
        with guard():
            return int(self._redis.hlen(self.key))


class TagLock:
    """A lock across workers on one tag: a daemon tag while the daemon pushes it, or
    (`kind` "registry-tag") a registry tag read, changed and written back, such as a
    referrers fallback index."""

    def __init__(
        self, connection: StoreConnection, tag: str, timeout: float, kind: str = "daemon-tag"
    ) -> None:
        self._lock = connection.client.lock(
            keys.tag_lock(kind, tag), timeout=timeout, blocking_timeout=timeout
        )
        self.tag, self.kind = tag, kind

    def __enter__(self) -> TagLock:
        with guard():
            if not self._lock.acquire():
                raise DeadlineExceeded(
                    f"another push held {self.kind} {self.tag} past this job's deadline"
                )
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            with guard():
                self._lock.release()
        except LockError:
            pass  # it expired: another worker may hold it now, which is what expiry is for
