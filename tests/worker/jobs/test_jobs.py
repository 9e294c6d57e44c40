"""The job store and the reconciler on real Redis: claims, takeovers, half-submitted jobs."""

from __future__ import annotations

import time

import pytest
import redis

from tests.support.services import RedisServer
from worker.errors import JobConflict, StoreUnavailable
from worker.jobs.keys import RUNNING_KEY, SUBMITTING_KEY
from worker.jobs.model import JobStatus
from worker.jobs.reconciler import Reconciler
from worker.jobs.store import JobStore
from worker.jobs.submit import PushRequest, plan_job, submit
from worker.settings import Settings


@pytest.fixture
def store(redis_server: RedisServer, redis_client: redis.Redis) -> JobStore:
    redis_client.flushdb()
    return JobStore.from_url(redis_server.url, retention=3600)


def new_job(store: JobStore, settings: Settings, enqueued: list[str]) -> str:
    job = plan_job(
        PushRequest(source=f"{next(iter(settings.source_registries))}/a/b:1", app_slug="myapp"),
        settings,
        owner="test",
    )
    return submit(store, job, enqueued.append).id


def test_submit_writes_record_then_enqueues_and_confirms(
    store: JobStore, settings: Settings, redis_client: redis.Redis
) -> None:
    enqueued: list[str] = []
    job_id = new_job(store, settings, enqueued)
    assert enqueued == [job_id]
    assert store.get(job_id).status == "queued"
    assert redis_client.zscore(SUBMITTING_KEY, job_id) is None


def test_failed_enqueue_leaves_nothing_behind(
    store: JobStore, settings: Settings, redis_client: redis.Redis
) -> None:
    def broken(job_id: str) -> None:
        raise ConnectionError("broker down")

    job = plan_job(
        PushRequest(source=f"{next(iter(settings.source_registries))}/a/b:1", app_slug="myapp"),
        settings,
        owner="test",
    )
    with pytest.raises(StoreUnavailable):
        submit(store, job, broken)
    assert redis_client.keys("pushgate:job:*") == []
    assert store.list_jobs(None, None, 10, None).items == []


def test_claim_is_exclusive_while_the_heartbeat_is_fresh(
    store: JobStore, settings: Settings, redis_client: redis.Redis
) -> None:
    job_id = new_job(store, settings, [])
    assert store.claim(job_id, "run-a", stale_before=time.time() - 30)
    assert not store.claim(job_id, "run-b", stale_before=time.time() - 30)
    redis_client.zadd(RUNNING_KEY, {job_id: time.time() - 60})  # run-a's worker went silent
    assert store.claim(job_id, "run-b", stale_before=time.time() - 30)
    job = store.get(job_id)
    assert job.attempts == 2 and job.run_id == "run-b"
    # run-a can no longer write an outcome over run-b's
    assert not store.transition(job_id, [JobStatus.RUNNING], JobStatus.FAILED, run_id="run-a")
    assert store.transition(job_id, [JobStatus.RUNNING], JobStatus.SUCCEEDED, run_id="run-b")
    assert not store.claim(job_id, "run-c", stale_before=time.time())


def test_reconciler_requeues_jobs_of_dead_workers(
    store: JobStore, settings: Settings, redis_client: redis.Redis
) -> None:
    enqueued: list[str] = []
    alive, dead = new_job(store, settings, []), new_job(store, settings, [])
    store.claim(alive, "run-1", time.time() - 30)
    store.claim(dead, "run-2", time.time() - 30)
    redis_client.zadd(RUNNING_KEY, {dead: time.time() - 45})
    reconciler = Reconciler(store, enqueued.append, heartbeat_timeout=30, interval=1)
    requeued, removed = reconciler.run_once()
    assert requeued == [dead] and enqueued == [dead] and removed == []
    assert store.get(dead).status == "queued" and store.get(alive).status == "running"
    assert reconciler.run_once() == ([], [])


def test_reconciler_retries_a_requeue_whose_message_failed(
    store: JobStore, settings: Settings, redis_client: redis.Redis
) -> None:
    job_id = new_job(store, settings, [])
    store.claim(job_id, "run-1", time.time() - 30)
    redis_client.zadd(RUNNING_KEY, {job_id: 1})
    sent: list[str] = []

    def flaky(jid: str) -> None:
        if not sent:
            sent.append("failed once")
            raise ConnectionError("broker down")
        sent.append(jid)

    reconciler = Reconciler(store, flaky, heartbeat_timeout=30, interval=1)
    reconciler.run_once()
    assert reconciler.run_once()[0] == [job_id]
    assert sent == ["failed once", job_id]


def test_reconciler_removes_half_submitted_jobs(
    store: JobStore, settings: Settings, redis_client: redis.Redis
) -> None:
    job = plan_job(
        PushRequest(source=f"{next(iter(settings.source_registries))}/a/b:1", app_slug="myapp"),
        settings,
        owner="test",
    )
    store.create(job)  # written, but its message never went out
    redis_client.zadd(SUBMITTING_KEY, {job.id: time.time() - 120})
    _, removed = Reconciler(store, lambda _: None, 30, 1).run_once()
    assert removed == [job.id]
    assert not redis_client.exists(store.key(job.id))


def test_cancel_queued_running_and_finished(store: JobStore, settings: Settings) -> None:
    queued = new_job(store, settings, [])
    assert store.request_cancel(queued).status == "cancelled"
    assert not store.claim(queued, "run", time.time() - 30)  # a cancelled job never starts
    running = new_job(store, settings, [])
    store.claim(running, "run", time.time() - 30)
    flagged = store.request_cancel(running)
    assert flagged.status == "running" and flagged.cancel_requested
    with pytest.raises(JobConflict):
        store.request_cancel(queued)
