"""The dispatcher on real Redis and real receivers, without Celery: fan-out, one attempt per
call, the retry schedule with Retry-After, 410, giving up; and the runner's event sink."""

from __future__ import annotations

import base64
import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.images import ImageBuilder
from tests.support.receiver import Answer, WebhookReceiver
from tests.support.services import Registry
from worker.jobs.connection import StoreConnection
from worker.jobs.deliveries import DeliveryRecords
from worker.jobs.model import Job, JobError, JobStatus, new_job_id
from worker.jobs.runner import JobRunner
from worker.jobs.submit import PushRequest, plan_job, submit
from worker.settings import Settings
from worker.webhooks.dispatch import DeliveryScheduler, Dispatcher
from worker.webhooks.subscriptions import Subscription

SECRET = "whsec_" + base64.b64encode(b"d" * 32).decode()


@pytest.fixture
def records(settings: Settings) -> Iterator[DeliveryRecords]:
    connection = StoreConnection.from_url(settings.redis_url)
    yield DeliveryRecords(connection, 3600)
    connection.close()


def make_job(callback_url: str | None, secret_file: Path, **extra: object) -> Job:
    callback = None
    if callback_url:
        callback = {"url": callback_url, "events": ["push.failed"], "secret_file": str(secret_file)}
    return Job(
        id=new_job_id(),
        status=JobStatus.FAILED,
        source="ghcr.io/acme/w:1",
        app_slug="myapp",
        image="w",
        tags=["1"],
        destinations=["vendor.test/myapp/w:1"],
        error=JobError("auth", "Not authorised", "no"),
        callback=callback,
        **extra,  # type: ignore[arg-type]
    )


def dispatcher(
    settings: Settings,
    records: DeliveryRecords,
    subs: list[Subscription],
    schedule: tuple[float, ...],
) -> tuple[Dispatcher, list[str]]:
    sent: list[str] = []
    tuned = dataclasses.replace(
        settings,
        webhook_hosts=frozenset({"127.0.0.1:*"}),
        webhook_timeout=5.0,
        webhook_retry_schedule=schedule,
    )
    return Dispatcher(tuned, records, subs, sent.append), sent


def make_due(records: DeliveryRecords, delivery_id: str) -> None:
    """Bring a scheduled retry forward to now (instead of sleeping until it is due)."""
    records.redis.hset(records.key(delivery_id), "next_at", str(time.time()))


def test_retry_after_is_honoured_and_one_id_is_delivered_once(
    settings: Settings, records: DeliveryRecords, tmp_path: Path
) -> None:
    (tmp_path / "s").write_text(SECRET)
    receiver = WebhookReceiver([Answer(429, {"Retry-After": "120"}), Answer(200)])
    try:
        hub, sent = dispatcher(settings, records, [], (1.0,))
        job = make_job(receiver.url(), tmp_path / "s")
        [delivery_id] = hub.emit("push.failed", job)
        assert sent == [delivery_id]
        assert hub.emit("push.failed", job) == [] and hub.emit("push.succeeded", job) == []
        first = hub.deliver(delivery_id)
        assert first is not None and first.state == "pending" and first.last_status == 429
        assert first.next_at >= time.time() + 100  # Retry-After wins over the 1 s schedule
        assert hub.deliver(delivery_id) is None  # not due: nothing is sent early
        assert len(receiver.requests) == 1
        make_due(records, delivery_id)
        second = hub.deliver(delivery_id)
        assert second is not None and second.state == "delivered" and second.attempts == 2
        assert hub.deliver(delivery_id) is None and len(receiver.requests) == 2
        assert {r.headers["webhook-id"] for r in receiver.requests} == {delivery_id}
    finally:
        receiver.stop()


def test_attempts_run_out(settings: Settings, records: DeliveryRecords, tmp_path: Path) -> None:
    (tmp_path / "s").write_text(SECRET)
    receiver = WebhookReceiver([Answer(500)])
    try:
        hub, _ = dispatcher(settings, records, [], (0.0,))
        [delivery_id] = hub.emit("push.failed", make_job(receiver.url(), tmp_path / "s"))
        assert hub.deliver(delivery_id).state == "pending"  # type: ignore[union-attr]
        last = hub.deliver(delivery_id)
        assert last is not None and last.state == "failed" and last.attempts == 2
        assert last.next_attempt is None and hub.deliver(delivery_id) is None
        assert len(receiver.requests) == 2
    finally:
        receiver.stop()


def test_410_disables_the_subscription_until_its_url_changes(
    settings: Settings, records: DeliveryRecords, tmp_path: Path
) -> None:
    (tmp_path / "s").write_text(SECRET)
    gone = WebhookReceiver([Answer(410)])
    try:
        name = f"sub-{new_job_id()[:8]}"
        sub = Subscription(
            name, gone.url(), tmp_path / "s", frozenset({"myapp"}), frozenset({"push.failed"})
        )
        hub, _ = dispatcher(settings, records, [sub], (0.0,))
        [delivery_id] = hub.emit("push.failed", make_job(None, tmp_path / "s"))
        assert hub.deliver(delivery_id).state == "gone"  # type: ignore[union-attr]
        assert hub.emit("push.failed", make_job(None, tmp_path / "s")) == []
        moved = dataclasses.replace(sub, url=gone.url("/new"))
        hub2, _ = dispatcher(settings, records, [moved], (0.0,))
        assert len(hub2.emit("push.failed", make_job(None, tmp_path / "s"))) == 1
        assert len(gone.requests) == 1
    finally:
        gone.stop()


def test_the_scheduler_resends_due_deliveries(
    settings: Settings, records: DeliveryRecords, tmp_path: Path
) -> None:
    (tmp_path / "s").write_text(SECRET)
    hub, _ = dispatcher(settings, records, [], (0.0,))
    [delivery_id] = hub.emit("push.failed", make_job("http://127.0.0.1:9/x", tmp_path / "s"))
    records.redis.zadd("pushgate:webhook:schedule", {delivery_id: time.time() - 1})
    resent: list[str] = []
    assert delivery_id in DeliveryScheduler(records, resent.append, 60, 1).run_once()
    assert delivery_id in resent
    assert delivery_id not in DeliveryScheduler(records, resent.append, 60, 1).run_once()


def test_the_runner_tells_its_event_sink_when_a_job_starts_and_ends(
    settings: Settings,
    make_runner: Callable[[Settings], JobRunner],
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    source_images.image(f"acme/{unique}", "1", [1024])
    runner = make_runner(settings)
    told: list[tuple[str, JobStatus]] = []
    runner.events = lambda event, job: told.append((event, job.status))
    request = PushRequest(source=f"{source_registry.host}/acme/{unique}:1", app_slug="myapp")
    job = submit(runner.store, plan_job(request, settings, owner="t"), lambda _: None)
    runner.run(job.id)
    assert told == [("push.started", JobStatus.RUNNING), ("push.succeeded", JobStatus.SUCCEEDED)]
    # Cancelled while queued: the runner never claims it, and still says how it ended.
    told.clear()
    queued = submit(runner.store, plan_job(request, settings, owner="t"), lambda _: None)
    runner.store.request_cancel(queued.id)
    runner.run(queued.id)
    assert told == [("push.cancelled", JobStatus.CANCELLED)]
