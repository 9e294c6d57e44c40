"""Per-caller limits on submissions: pushes per minute and jobs queued or running at once,
checked and taken in one atomic step in Redis; and a new job's whole submission in that same
step (limits, record, queue message, indexes, audit event: one round trip, nothing half-written)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from worker.jobs import keys
from worker.jobs.audit import STREAM_MAXLEN
from worker.jobs.connection import StoreConnection, guard
from worker.jobs.listing import JobListing
from worker.jobs.model import Job
from worker.jobs.scripts import with_statuses

RESERVATION_GRACE = 60.0  # a reserved id with no record yet counts for this long
FULL_RETRY_AFTER = 10  # seconds to suggest when a caller has too many jobs active

# KEYS: rate log (zset), caller's active jobs (zset). ARGV: now, rate per minute, max active,
# job id, job key prefix, grace, retry after. Returns {1} when taken, else {0, reason, retry
# after}. Finished or vanished jobs leave the caller's set here, so it never needs other
# bookkeeping: the PRUNE oldest entries on every call (so the set follows the jobs that end),
# and every entry only when the set has reached the limit (so a POST costs O(1), not one
# lookup per job the caller has queued).
ADMIT = with_statuses("""
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60)
local sent = redis.call('ZCARD', KEYS[1])
if sent >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, 'rate', math.max(1, math.ceil(tonumber(oldest[2]) + 60 - now))}
end
local function prune(ids)
  for _, id in ipairs(ids) do
    local status = redis.call('HGET', ARGV[5] .. id, 'status')
    local live = status == @QUEUED@ or status == @RUNNING@
    if not status then
      live = tonumber(redis.call('ZSCORE', KEYS[2], id)) > now - tonumber(ARGV[6])
    end
    if not live then redis.call('ZREM', KEYS[2], id) end
  end
end
prune(redis.call('ZRANGE', KEYS[2], 0, PRUNE - 1))
local limit = tonumber(ARGV[3])
if redis.call('ZCARD', KEYS[2]) >= limit then
  prune(redis.call('ZRANGE', KEYS[2], 0, -1))
  if redis.call('ZCARD', KEYS[2]) >= limit then return {0, 'max_active', tonumber(ARGV[7])} end
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('EXPIRE', KEYS[1], 61)
redis.call('ZADD', KEYS[2], now, ARGV[4])
return {1}
""").replace("PRUNE", "4")

# KEYS: as ADMIT's (rate log, caller's active jobs), then the job's hash, every active job,
# the queue list, the two job indexes, the two audit streams. ARGV: as ADMIT's (7), then the
# retention, the queue message, the index member, the index cutoff, the audit event (or ""),
# the audit cutoff id, the audit streams' length, then the record's field/value pairs.
SUBMIT = (
    ADMIT.removesuffix("return {1}\n")  # the same checks, then the writes
    + """
local retention = tonumber(ARGV[8])
redis.call('HSET', KEYS[3], unpack(ARGV, 15))
redis.call('EXPIRE', KEYS[3], retention)
redis.call('LPUSH', KEYS[5], ARGV[9])
redis.call('ZADD', KEYS[4], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - retention)
for i = 6, 7 do
  redis.call('ZADD', KEYS[i], 0, ARGV[10])
  redis.call('ZREMRANGEBYLEX', KEYS[i], '-', ARGV[11])
  redis.call('EXPIRE', KEYS[i], retention)
end
if ARGV[12] ~= '' then
  for i = 8, 9 do
    redis.call('XADD', KEYS[i], 'MINID', '~', ARGV[13], '*', 'event', ARGV[12])
    redis.call('XTRIM', KEYS[i], 'MAXLEN', '~', ARGV[14])
    redis.call('EXPIRE', KEYS[i], retention)
  end
end
return {1}
"""
)


# KEYS: all active jobs (zset). ARGV: job key prefix. Returns {queued, running}; drops the
# ids of jobs that ended or expired.
COUNT_ACTIVE = with_statuses("""
local queued, running = 0, 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local status = redis.call('HGET', ARGV[1] .. id, 'status')
  if status == @QUEUED@ then queued = queued + 1
  elseif status == @RUNNING@ then running = running + 1
  else redis.call('ZREM', KEYS[1], id) end
end
return {queued, running}
""")


@dataclass(frozen=True)
class Refusal:
    """Why a submission was refused (`rate` or `max_active`) and when to try again."""

    reason: str
    retry_after: int


class CallerLimits:
    """Admits a caller's new job when it is within its rate and its active-job limit."""

    def __init__(self, connection: StoreConnection, retention: int) -> None:
        self._redis = connection.client
        self._retention = retention  # of the jobs submit() stores
        self._admit = self._redis.register_script(ADMIT)
        self._submit = self._redis.register_script(SUBMIT)
        self._count = self._redis.register_script(COUNT_ACTIVE)

    def admit(self, caller: str, job_id: str, rate: int, max_active: int) -> Refusal | None:
        """Take a slot for `job_id` of `caller`: None when admitted, else the Refusal."""
        names = [keys.caller_rate(caller), keys.caller_active(caller)]
        args: list[str | float] = [time.time(), rate, max_active, job_id, keys.JOB_PREFIX]
        with guard():
            result = self._admit(keys=names, args=[*args, RESERVATION_GRACE, FULL_RETRY_AFTER])
        if int(result[0]) == 1:
            return None
        return Refusal(str(result[1]), int(result[2]))

    def submit(
        self,
        job: Job,
        message: tuple[str, str],
        limits: tuple[str, int, int],
        audit_event: dict[str, Any] | None = None,
    ) -> Refusal | None:
        """In one step, if the caller's `limits` (name, rate, max active) admit `job`: take a
        slot as admit() does, store the job with its queue `message` (list, body), index it,
        and store its `audit_event`. None when done, else the Refusal, and nothing written."""
        now, (caller, rate, max_active) = time.time(), limits
        cutoff = int((now - self._retention) * 1000)
        names = [keys.caller_rate(caller), keys.caller_active(caller), keys.job(job.id)]
        names += [keys.ACTIVE_KEY, message[0], keys.job_index(None), keys.job_index(job.app_slug)]
        names += [keys.audit_stream(None), keys.audit_stream(job.app_slug)]
        args: list[str | float] = [now, rate, max_active, job.id, keys.JOB_PREFIX]
        args += [RESERVATION_GRACE, FULL_RETRY_AFTER, self._retention, message[1]]
        args += [JobListing.member(job), f"({cutoff:013d}:"]
        event = "" if audit_event is None else json.dumps(audit_event, separators=(",", ":"))
        args += [event, f"{cutoff}-0", STREAM_MAXLEN]
        args += [text for pair in job.to_record().items() for text in pair]
        with guard():
            result = self._submit(keys=names, args=args)
        return None if int(result[0]) == 1 else Refusal(str(result[1]), int(result[2]))

    def active_counts(self) -> tuple[int, int]:
        """(queued, running) jobs across every caller."""
        with guard():
            queued, running = self._count(keys=[keys.ACTIVE_KEY], args=[keys.JOB_PREFIX])
        return int(queued), int(running)
