"""Lua scripts that change a job atomically in Redis, so a cancel, a start and a takeover
never both win. Job hash values are JSON (the job model's encode_field): the statuses the
scripts compare and write are encoded by it, never spelled here."""

from __future__ import annotations

from worker.jobs.model import JobStatus, encode_field


def with_statuses(script: str) -> str:
    """The script with @RUNNING@, @QUEUED@ and @NULL@ as the job model stores them, quoted
    as Lua strings."""
    for name, value in (
        ("@RUNNING@", encode_field(JobStatus.RUNNING)),
        ("@QUEUED@", encode_field(JobStatus.QUEUED)),
        ("@NULL@", encode_field(None)),
    ):
        script = script.replace(name, "'" + value.replace("'", "\\'") + "'")
    return script


# KEYS: job, running zset. ARGV: allowed statuses (JSON list), expected run id (JSON or ""),
# retention, job id whose heartbeat ends with this change (or ""), the job's change channel,
# "read" to get the changed record back, then field/value pairs. Returns -1 (no job), 0 (not
# changed) or 1, or with "read" {1, field, value, ...}. Ending the heartbeat here, not after,
# leaves no moment where a running job has none; the announcement is part of the change.
TRANSITION = with_statuses("""
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -1 end
local ok = false
for _, s in ipairs(cjson.decode(ARGV[1])) do if cjson.encode(s) == status then ok = true end end
if not ok then return 0 end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'run_id') ~= ARGV[2] then return 0 end
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
if ARGV[4] ~= '' then redis.call('ZREM', KEYS[2], ARGV[4]) end
redis.call('PUBLISH', ARGV[5], '1')
if ARGV[6] == 'read' then
  local record = redis.call('HGETALL', KEYS[1])
  table.insert(record, 1, 1)
  return record
end
return 1
""")

# KEYS: job, running zset. ARGV: job id, run id, now, stale_before, retention, the start time
# to record when the job never started, the job's change channel. Returns {-1} (no job), or
# {1 when taken else 0, 1 when this claim started the job else 0, field, value, ...}: the
# record as the claim left it, so a run reads its job in the same step. The heartbeat starts
# here too.
CLAIM = with_statuses("""
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {-1} end
local taken = 1
if status == @RUNNING@ then
  local beat = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if beat and tonumber(beat) > tonumber(ARGV[4]) then taken = 0 end
elseif status ~= @QUEUED@ then
  taken = 0
end
local started = 0
if taken == 1 then
  redis.call('HSET', KEYS[1], 'status', @RUNNING@, 'run_id', cjson.encode(ARGV[2]))
  redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  local start = redis.call('HGET', KEYS[1], 'started_at')
  if not start or start == @NULL@ then
    redis.call('HSET', KEYS[1], 'started_at', ARGV[6])
    started = 1
  end
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  redis.call('PUBLISH', ARGV[7], '1')
end
local record = redis.call('HGETALL', KEYS[1])
table.insert(record, 1, started)
table.insert(record, 1, taken)
return record
""")

# KEYS: job, running zset. ARGV: job id, stale_before. A queued job with a stale entry is one
# whose requeue message could not be sent: it is returned again.
REQUEUE_STALE = with_statuses("""
local beat = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not beat or tonumber(beat) > tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= @RUNNING@ and status ~= @QUEUED@ then return 0 end
redis.call('HSET', KEYS[1], 'status', @QUEUED@, 'run_id', @NULL@)
return 1
""")
