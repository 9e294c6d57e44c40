"""Which repository of each app holds each blob: where cross-repository mounts come from."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any

import redis

from worker.jobs.store import PREFIX


class BlobLedger:
    """Which repository of each app last received each blob, to mount instead of upload."""

    def __init__(self, client: redis.Redis, ttl: float = 30 * 86400) -> None:
        self.redis = client
        self.ttl = int(ttl)

    @staticmethod
    def key(app_slug: str) -> str:
        """The Redis key of an app's ledger: a hash of blob digest -> repository."""
        return f"{PREFIX}:blobs:{app_slug}"

    def record(self, app_slug: str, repository: str, digests: Iterable[str]) -> None:
        """Note that `repository` (e.g. myapp/worker) now holds these blobs."""
        mapping: dict[Any, Any] = {digest: repository for digest in digests}
        if mapping:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(self.key(app_slug), mapping=mapping)
                pipe.expire(self.key(app_slug), self.ttl)
                pipe.execute()

    def holders(self, app_slug: str, digests: list[str]) -> dict[str, str]:
        """For each digest pushed before, the app repository that holds it."""
        if not digests:
            return {}
        found = self.redis.hmget(self.key(app_slug), digests)
        return {d: str(repo) for d, repo in zip(digests, found, strict=True) if repo}


class RedisHash(MutableMapping[str, str]):
    """A Redis hash as a str -> str mapping (e.g. layer diff_id -> its gzip's digest and size)."""

    def __init__(self, client: redis.Redis, key: str, ttl: float = 30 * 86400) -> None:
        self.redis, self.key, self.ttl = client, key, int(ttl)

    def __getitem__(self, name: str) -> str:
        value = self.redis.hget(self.key, name)
        if value is None:
            raise KeyError(name)
        return str(value)

    def __setitem__(self, name: str, value: str) -> None:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.key, name, value)
            pipe.expire(self.key, self.ttl)  # unused entries go when the app stops pushing
            pipe.execute()

    def __delitem__(self, name: str) -> None:
        self.redis.hdel(self.key, name)

    def __iter__(self) -> Iterator[str]:
        return (str(k) for k in self.redis.hkeys(self.key))

    def __len__(self) -> int:
        return int(self.redis.hlen(self.key))
