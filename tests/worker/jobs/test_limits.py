"""Per-caller limits in Redis: the active-job limit holds, and finished jobs leave the set."""

from __future__ import annotations

import uuid

import redis

from tests.support.services import RedisServer
from worker.jobs.store import JobStore


def _caller() -> str:
    return f"caller-{uuid.uuid4().hex[:8]}"


def _status(client: redis.Redis, store: JobStore, job_id: str, status: str) -> None:
    client.hset(store.key(job_id), "status", f'"{status}"')


def test_max_active_counts_only_live_jobs(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    store = JobStore.from_url(redis_server.url, retention=3600)
    limits, caller = store.caller_limits(), _caller()
    ids = [uuid.uuid4().hex for _ in range(4)]
    for job_id in ids[:3]:
        assert limits.admit(caller, job_id, rate=100, max_active=3) is None
        _status(redis_client, store, job_id, "queued")
    refusal = limits.admit(caller, ids[3], rate=100, max_active=3)
    assert refusal is not None and refusal.reason == "max_active"
    _status(redis_client, store, ids[1], "succeeded")  # not among the oldest pruned first
    assert limits.admit(caller, ids[3], rate=100, max_active=3) is None


def test_ended_jobs_leave_the_set_without_a_scan_per_push(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    store = JobStore.from_url(redis_server.url, retention=3600)
    limits, caller = store.caller_limits(), _caller()
    for _ in range(40):
        job_id = uuid.uuid4().hex
        assert limits.admit(caller, job_id, rate=1000, max_active=1000) is None
        _status(redis_client, store, job_id, "failed")
    # each admission drops the oldest ended jobs, so the set stays small while jobs end
    assert redis_client.zcard(f"pushgate:active:key:{caller}") <= 4


def test_rate_refuses_with_retry_after(redis_server: RedisServer) -> None:
    limits, caller = JobStore.from_url(redis_server.url, retention=3600).caller_limits(), _caller()
    assert limits.admit(caller, uuid.uuid4().hex, rate=1, max_active=10) is None
    refusal = limits.admit(caller, uuid.uuid4().hex, rate=1, max_active=10)
    assert refusal is not None and refusal.reason == "rate" and 1 <= refusal.retry_after <= 60
