"""Webhook delivery records in Redis, handed out by the job store (`JobStore.deliveries`): one
hash per delivery, a list per job, one schedule of due times. Every call runs in the store's
guard(), so an outage is StoreUnavailable. The webhook dispatcher (worker/webhooks/) decides
what to send and when; this module only keeps the records."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any

from worker.jobs import keys
from worker.jobs.connection import StoreConnection, guard
from worker.jobs.keys import WEBHOOK_DISABLED_KEY as DISABLED_KEY
from worker.jobs.keys import WEBHOOK_SCHEDULE_KEY as SCHEDULE_KEY
from worker.timestamps import format_time

PENDING, DELIVERED, FAILED, GONE, DISABLED = "pending", "delivered", "failed", "gone", "disabled"

# KEYS: delivery, job's list, schedule. ARGV: id, retention, due, then field/value pairs.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
"""

# KEYS: delivery, schedule. ARGV: id, now, lease end, claim token. Due, pending, not in flight.
_CLAIM = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then redis.call('ZREM', KEYS[2], ARGV[1]) return -1 end
if state ~= 'pending' then redis.call('ZREM', KEYS[2], ARGV[1]) return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'next_at') or '0') > tonumber(ARGV[2]) then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'inflight_until') or '0') > tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], 'inflight_until', ARGV[3], 'claim', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""

# KEYS: delivery, schedule. ARGV: id, claim token, state, next_at, then field/value pairs.
_FINISH = """
if redis.call('HGET', KEYS[1], 'claim') ~= ARGV[2] then return 0 end
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'next_at', ARGV[4], 'inflight_until', '0')
if ARGV[3] == 'pending' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 1
"""

# KEYS: schedule. ARGV: now, lease end, limit. Due ids, pushed back by a lease so that one
# pass sends each only once.
_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return due
"""


@dataclass
class Delivery:
    """One event for one subscriber, tried until it is delivered or given up."""

    id: str
    job_id: str
    event: str
    subscription: str  # "callback" (the job's own) or a standing subscription's name
    url: str
    format: str
    secret_file: str
    guarded: bool
    body: str
    state: str = PENDING
    attempts: int = 0
    last_status: int | None = None
    last_error: str = ""
    next_at: float = 0.0
    created_at: str = ""
    delivered_at: str = ""

    def to_record(self) -> dict[str, str]:
        """The hash fields stored in Redis, all strings."""
        record = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                value = int(value)
            record[f.name] = "" if value is None else str(value)
        return record

    @classmethod
    def from_record(cls, record: dict[str, str]) -> Delivery:
        """Rebuild a Delivery from its hash."""
        status = record.get("last_status", "")
        return cls(
            id=record["id"],
            job_id=record["job_id"],
            event=record["event"],
            subscription=record["subscription"],
            url=record["url"],
            format=record.get("format", "standard"),
            secret_file=record.get("secret_file", ""),
            guarded=record.get("guarded") == "1",
            body=record.get("body", ""),
            state=record.get("state", PENDING),
            attempts=int(record.get("attempts") or 0),
            last_status=int(status) if status else None,
            last_error=record.get("last_error", ""),
            next_at=float(record.get("next_at") or 0),
            created_at=record.get("created_at", ""),
            delivered_at=record.get("delivered_at", ""),
        )

    @property
    def next_attempt(self) -> str | None:
        """When the next attempt is due (RFC 3339), or None once it is settled."""
        return format_time(self.next_at) if self.state == PENDING else None


class DeliveryRecords:
    """Delivery records on the job store's Redis client."""

    def __init__(self, connection: StoreConnection, retention: float) -> None:
        self.redis = client = connection.client
        self.retention = int(retention)
        self._create = client.register_script(_CREATE)
        self._claim = client.register_script(_CLAIM)
        self._finish = client.register_script(_FINISH)
        self._due = client.register_script(_DUE)

    @staticmethod
    def key(delivery_id: str) -> str:
        """The Redis key of a delivery's hash."""
        return keys.delivery(delivery_id)

    @staticmethod
    def job_key(job_id: str) -> str:
        """The Redis key of the list of a job's delivery ids."""
        return keys.job_deliveries(job_id)

    def create(self, delivery: Delivery, due: float) -> bool:
        """Store a new delivery, due at `due`; False when one with its id exists already."""
        args: list[Any] = [delivery.id, self.retention, due]
        for name, value in delivery.to_record().items():
            args += [name, value]
        names = [self.key(delivery.id), self.job_key(delivery.job_id), SCHEDULE_KEY]
        with guard():
            return bool(self._create(keys=names, args=args) == 1)

    def get(self, delivery_id: str) -> Delivery | None:
        """The delivery, or None when it does not exist (or expired)."""
        with guard():
            record = self.redis.hgetall(self.key(delivery_id))
        return Delivery.from_record({str(k): str(v) for k, v in record.items()}) if record else None

    def for_job(self, job_id: str) -> list[Delivery]:
        """The deliveries of a job, oldest first."""
        with guard():
            ids = self.redis.lrange(self.job_key(job_id), 0, -1)
        found = (self.get(str(i)) for i in ids)
        return [d for d in found if d is not None]

    def claim(self, delivery_id: str, token: str, lease: float) -> bool:
        """Take a due, pending delivery for one attempt (counted); False when it is not ours."""
        now = time.time()
        with guard():
            result = self._claim(
                keys=[self.key(delivery_id), SCHEDULE_KEY],
                args=[delivery_id, now, now + lease, token],
            )
        return bool(result == 1)

    def finish(
        self, delivery_id: str, token: str, state: str, next_at: float = 0.0, **values: Any
    ) -> bool:
        """Record an attempt's outcome if the claim is still ours; pending means retry at
        `next_at`."""
        args: list[Any] = [delivery_id, token, state, next_at]
        for name, value in values.items():
            args += [name, "" if value is None else str(value)]
        with guard():
            result = self._finish(keys=[self.key(delivery_id), SCHEDULE_KEY], args=args)
        return bool(result == 1)

    def due(self, lease: float, limit: int = 100) -> list[str]:
        """Ids of deliveries due now (a lost task, a retry); each is pushed back by `lease`."""
        now = time.time()
        with guard():
            return [str(i) for i in self._due(keys=[SCHEDULE_KEY], args=[now, now + lease, limit])]

    def disable(self, name: str, url: str) -> None:
        """Disable a standing subscription at this URL (it answered 410 Gone)."""
        with guard():
            self.redis.hset(DISABLED_KEY, name, url)

    def disabled(self, name: str, url: str) -> bool:
        """True when the subscription was disabled at this URL (a new URL enables it again)."""
        with guard():
            return self.redis.hget(DISABLED_KEY, name) == url
