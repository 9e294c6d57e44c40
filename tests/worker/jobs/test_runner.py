"""The job runner in-process on real Redis and registries (no Celery): too many attempts, a run
superseded by another, and the job store going away while a job is claimed or finishes."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.images import ImageBuilder
from tests.support.proxy import RegistryProxy
from tests.support.services import RedisServer, Registry, wait_until
from worker.errors import NetworkError
from worker.jobs.keys import RUNNING_KEY
from worker.jobs.model import Job, JobError, JobStatus
from worker.jobs.runner import JobRunner
from worker.jobs.store import JobStore
from worker.jobs.submit import PushRequest, plan_job, submit
from worker.settings import Settings


def queue_job(store: JobStore, settings: Settings, source: str) -> str:
    """Store a queued job for `source` (its message is not sent: the test runs it)."""
    job = plan_job(PushRequest(source=source, app_slug="myapp"), settings, owner="test")
    return submit(store, job, lambda _: None).id


def via_proxy(settings: Settings, proxy: RegistryProxy, **changes: Any) -> Settings:
    """`settings` with the vendor registry reached through `proxy`."""
    return dataclasses.replace(
        settings,
        registry=proxy.host,
        insecure_registries=settings.insecure_registries | {proxy.host},
        heartbeat_interval=0.2,
        **changes,
    )


@pytest.mark.parametrize(
    ("earlier", "last"),
    [
        (None, "the worker running it was lost"),
        (JobError.of(NetworkError("registry gone")), "registry gone"),
    ],
)
def test_too_many_attempts_fail_the_job_with_the_last_error(
    settings: Settings,
    make_runner: Callable[[Settings], JobRunner],
    redis_client: redis.Redis,
    earlier: JobError | None,
    last: str,
) -> None:
    runner = make_runner(settings)
    source = f"{next(iter(settings.source_registries))}/never/pulled:1"
    job_id = queue_job(runner.store, settings, source)
    runner.store.update(job_id, attempts=settings.max_attempts, error=earlier)
    job = runner.run(job_id)
    assert job is not None and job.status is JobStatus.FAILED
    assert job.error == JobError(
        "internal",
        "Too many attempts",
        f"gave up after {settings.max_attempts} attempts; last: {last}",
    )
    assert job.attempts == settings.max_attempts + 1 and job.finished_at is not None
    assert redis_client.zscore(RUNNING_KEY, job_id) is None  # the heartbeat ended with it


def test_a_superseded_run_leaves_the_job_to_its_new_owner(
    settings: Settings,
    make_runner: Callable[[Settings], JobRunner],
    vendor_proxy: RegistryProxy,
    source_images: ImageBuilder,
    source_registry: Registry,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
    unique: str,
) -> None:
    caplog.set_level(logging.INFO)
    source_images.image(f"acme/{unique}", "1", [1024, 2048])
    runner = make_runner(via_proxy(settings, vendor_proxy))
    job_id = queue_job(runner.store, runner.settings, f"{source_registry.host}/acme/{unique}:1")
    taken = threading.Event()

    def take_over(method: str, path: str, nth: int) -> None:
        # While this run talks to the vendor, its heartbeat goes stale and run-b claims the
        # job; the request goes on once this run's monitor has seen it.
        if f"/myapp/{unique}/" in path and not taken.is_set():
            taken.set()
            redis_client.zadd(RUNNING_KEY, {job_id: 1})
            assert runner.store.claim(job_id, "run-b", stale_before=time.time() - 30)
            wait_until(
                lambda: any("taken over by run run-b" in m for m in caplog.messages),
                60,
                "the first run's monitor to see the takeover",
            )
        return None

    vendor_proxy.faults.plan = take_over
    job = runner.run(job_id)
    assert taken.is_set()
    assert job is not None and job.status is JobStatus.RUNNING and job.run_id == "run-b"
    assert job.error is None and job.finished_at is None and job.attempts == 2
    assert redis_client.zscore(RUNNING_KEY, job_id) is not None  # run-b's heartbeat remains


def outage_settings(
    settings: Settings, proxy: RegistryProxy, redis_server: RedisServer
) -> Settings:
    return via_proxy(settings, proxy, redis_url=redis_server.url, heartbeat_timeout=120.0)


def run_through_outage(
    runner: JobRunner,
    job_id: str,
    redis_server: RedisServer,
    workdir: Path,
    caplog: pytest.LogCaptureFixture,
) -> tuple[Job | None, RedisServer]:
    """Run the job in a thread; once it waits for the stopped store, start Redis again."""
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(runner.run, job_id)
        wait_until(
            lambda: any("waiting for it to come back" in m for m in caplog.messages),
            120,
            "the runner to wait for the job store",
        )
        back = RedisServer(workdir, port=redis_server.port, persistent=True)
        return future.result(timeout=300), back


def test_redis_stopped_while_a_job_finishes(
    settings: Settings,
    make_runner: Callable[[Settings], JobRunner],
    vendor_proxy: RegistryProxy,
    stoppable_redis: RedisServer,
    source_images: ImageBuilder,
    source_registry: Registry,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    unique: str,
) -> None:
    caplog.set_level(logging.INFO)
    image = source_images.image(f"acme/{unique}", "1", [1024, 2048])
    runner = make_runner(outage_settings(settings, vendor_proxy, stoppable_redis))
    job_id = queue_job(runner.store, runner.settings, f"{source_registry.host}/acme/{unique}:1")
    stopped = threading.Event()

    def stop_redis(method: str, path: str, nth: int) -> None:
        if method == "PUT" and "/manifests/" in path and not stopped.is_set():
            stoppable_redis.stop()  # the push is about to complete: the store goes away
            stopped.set()
        return None

    vendor_proxy.faults.plan = stop_redis
    job, back = run_through_outage(runner, job_id, stoppable_redis, tmp_path / "redis", caplog)
    try:
        assert stopped.is_set()
        assert job is not None and job.status is JobStatus.SUCCEEDED, job.error
        assert job.digest == image.digest and job.error is None
        assert redis.Redis.from_url(back.url).zscore(RUNNING_KEY, job_id) is None
        assert not any("crashed" in m for m in caplog.messages)
    finally:
        back.stop()


def test_redis_stopped_while_the_runner_claims(
    settings: Settings,
    make_runner: Callable[[Settings], JobRunner],
    vendor_proxy: RegistryProxy,
    stoppable_redis: RedisServer,
    source_images: ImageBuilder,
    source_registry: Registry,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    unique: str,
) -> None:
    caplog.set_level(logging.INFO)
    image = source_images.image(f"acme/{unique}", "1", [1024])
    runner = make_runner(outage_settings(settings, vendor_proxy, stoppable_redis))
    job_id = queue_job(runner.store, runner.settings, f"{source_registry.host}/acme/{unique}:1")
    stoppable_redis.stop()
    job, back = run_through_outage(runner, job_id, stoppable_redis, tmp_path / "redis", caplog)
    try:
        assert job is not None and job.status is JobStatus.SUCCEEDED
        assert job.digest == image.digest and job.attempts == 1
    finally:
        back.stop()


def test_a_run_reads_its_job_once_when_claimed_and_once_when_it_ends(
    settings: Settings,
    make_runner: Callable[[Settings], JobRunner],
    vendor_proxy: RegistryProxy,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = source_images.image(f"acme/{unique}", "1", [1024])
    runner = make_runner(via_proxy(settings, vendor_proxy))
    told: list[tuple[str, JobStatus]] = []
    runner.events = lambda event, job: told.append((event, job.status))
    job_id = queue_job(runner.store, runner.settings, f"{source_registry.host}/acme/{unique}:1")
    reads: list[str] = []
    read = Job.from_record
    monkeypatch.setattr(
        Job, "from_record", lambda record: reads.append(record["id"]) or read(record)
    )
    job = runner.run(job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED and job.digest == image.digest
    assert reads == [json.dumps(job_id)] * 2  # the claim phase's read, the end phase's read
    assert told == [("push.started", JobStatus.RUNNING), ("push.succeeded", JobStatus.SUCCEEDED)]


def test_a_job_that_fails_at_its_source_costs_the_run_two_redis_round_trips(
    settings: Settings,
    make_runner: Callable[[Settings], JobRunner],
    source_registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    unique: str,
) -> None:
    runner = make_runner(settings)
    source = f"{source_registry.host}/acme/{unique}-missing:1"
    runner.run(queue_job(runner.store, settings, source))  # engine built, scripts loaded
    job_id = queue_job(runner.store, settings, source)
    sent: list[int] = []
    send = redis.connection.Connection.send_packed_command
    this_thread = threading.get_ident()  # not the monitor's polls

    def counted(connection: redis.connection.Connection, *args: Any, **kwargs: Any) -> None:
        if threading.get_ident() == this_thread:
            sent.append(1)
        send(connection, *args, **kwargs)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counted)
    job = runner.run(job_id)
    assert job is not None and job.status is JobStatus.FAILED
    assert job.error is not None and job.error.type == "not_found"
    assert job.started_at is not None and job.finished_at is not None and job.attempts == 1
    assert len(sent) == 2  # the claim (which reads the job), the end (which reads it back)
