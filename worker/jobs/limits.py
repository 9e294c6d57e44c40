"""Per-caller limits on submissions: pushes per minute and jobs queued or running at once,
checked and taken in one atomic step in Redis."""

from __future__ import annotations

import time
from dataclasses import dataclass

from worker.jobs import keys
from worker.jobs.connection import StoreConnection, guard
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

    def __init__(self, connection: StoreConnection) -> None:
        self._redis = connection.client
        self._admit = self._redis.register_script(ADMIT)
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

    def active_counts(self) -> tuple[int, int]:
        """(queued, running) jobs across every caller."""
        with guard():
            queued, running = self._count(keys=[keys.ACTIVE_KEY], args=[keys.JOB_PREFIX])
        return int(queued), int(running)
