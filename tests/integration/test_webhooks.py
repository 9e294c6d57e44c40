"""Signed webhooks through the whole service: a real worker delivers to real HTTP receivers
that verify the Standard Webhooks signature with the `standardwebhooks` package."""

from __future__ import annotations

import hashlib
import json
import signal
import threading
from collections.abc import Iterator

import pytest
import redis

from tests.support.images import ImageBuilder
from tests.support.leaks import redis_dump
from tests.support.pushgate import Service, launch, redis_db
from tests.support.receiver import Answer, WebhookReceiver
from tests.support.services import RedisServer, Registry
from tests.support.webhook_calls import (
    BOT,
    BOT_KEY,
    BOT_SECRET,
    SUB_SECRET,
    KiB,
    push_with_callback,
    wait_settled,
    write_secrets_and_subscriptions,
)


@pytest.fixture(scope="module")
def gone() -> Iterator[WebhookReceiver]:
    """The receiver of a standing subscription that answers 410 Gone."""
    receiver = WebhookReceiver([Answer(410)])
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def slack() -> Iterator[WebhookReceiver]:
    """The receiver of a standing `format: slack` subscription."""
    receiver = WebhookReceiver([Answer(200)])
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def hooks(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    vendor_registry: Registry,
    gone: WebhookReceiver,
    slack: WebhookReceiver,
) -> Iterator[Service]:
    """The service with a bot key that has a webhook secret, callbacks allowed to 127.0.0.1,
    two standing subscriptions for app `goneapp`, a 2 s timeout and sub-second retries."""
    workdir = tmp_path_factory.mktemp("webhooks")
    write_secrets_and_subscriptions(
        workdir, gone.url("/ops?auth=sub-query-token"), slack.url("/chat")
    )
    svc = launch(
        workdir,
        redis_db(redis_server),
        source_registry.host,
        vendor_registry.host,
        shared_env={
            "PUSHGATE_WEBHOOKS_FILE": str(workdir / "webhooks.json"),
            "PUSHGATE_WEBHOOK_HOSTS": "127.0.0.1:*",
            "PUSHGATE_WEBHOOK_TIMEOUT": "2",
            "PUSHGATE_WEBHOOK_RETRY_SCHEDULE": "0.2,0.2,0.2,0.2",
        },
        extra_keys=[
            {
                "name": "chatops",
                "app_slugs": ["*"],
                "key_sha256": hashlib.sha256(BOT_KEY.encode()).hexdigest(),
                "webhook_secret_file": str(workdir / "bot.secret"),
            }
        ],
    )
    yield svc
    svc.stop()


def test_500_twice_then_200_is_one_delivery_with_one_webhook_id(
    hooks: Service, source_images: ImageBuilder, source_registry: Registry, unique: str
) -> None:
    receiver = WebhookReceiver([Answer(500), Answer(503, {"Retry-After": "1"}), Answer(200)])
    try:
        url = receiver.url("/hook?token=query-secret-abc")
        job_id = push_with_callback(hooks, source_images, source_registry, unique, url)
        job = hooks.wait_for(job_id)
        assert job["status"] == "succeeded", job
        assert job["callback_url"] == receiver.url("/hook")
        [delivery] = wait_settled(hooks, job_id, 1)
        assert len(receiver.requests) == 3
        assert [r.answered for r in receiver.requests] == [500, 503, 200]
        assert receiver.requests[2].at - receiver.requests[1].at >= 1.0  # Retry-After honoured
        bodies = [r.verify(BOT_SECRET) for r in receiver.requests]
        assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
        assert all(r.path == "/hook?token=query-secret-abc" for r in receiver.requests)
        body = bodies[0]
        assert body["type"] == "push.succeeded" and bodies == [body] * 3
        assert body["data"]["id"] == job_id and body["data"]["digest"] == job["digest"]
        assert body["data"]["summary"].startswith(f"myapp/{unique}:1 pushed to ")
        assert body["data"]["summary"].endswith("0 of 3 blobs already there")
        assert delivery == {
            **delivery,
            "id": receiver.requests[0].headers["webhook-id"],
            "event": "push.succeeded",
            "subscription": "callback",
            "url": receiver.url("/hook"),
            "state": "delivered",
            "attempts": 3,
            "last_status": 200,
            "next_attempt": None,
        }
        # Settled means off the schedule: nothing will send it again.
        client = redis.Redis.from_url(hooks.env["PUSHGATE_REDIS_URL"], decode_responses=True)
        assert client.zscore("pushgate:webhook:schedule", delivery["id"]) is None
        client.close()
    finally:
        receiver.stop()


def test_push_started_only_when_asked_and_failures_are_delivered(
    hooks: Service, source_registry: Registry, unique: str
) -> None:
    receiver = WebhookReceiver([Answer(204)])
    try:
        body = {
            "source": f"{source_registry.host}/acme/{unique}:missing",
            "app_slug": "myapp",
            "callback_url": receiver.url(),
            "callback_events": ["push.started", "push.failed"],
        }
        response = hooks.call("POST", "/v1/pushes", headers=BOT, json=body)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        found = wait_settled(hooks, job_id, 2)
        assert sorted(d["event"] for d in found) == ["push.failed", "push.started"]
        assert all(d["state"] == "delivered" and d["last_status"] == 204 for d in found)
        events = {r.verify(BOT_SECRET)["type"]: r.verify(BOT_SECRET) for r in receiver.requests}
        failed = events["push.failed"]["data"]
        assert failed["error"]["type"] == "not_found"
        assert failed["summary"].startswith(f"myapp/{unique}:missing push to ")
        assert "failed" in failed["summary"] and "not_found" in failed["summary"]
    finally:
        receiver.stop()


def test_410_disables_a_standing_subscription(
    hooks: Service,
    gone: WebhookReceiver,
    slack: WebhookReceiver,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    source_images.image(f"acme/{unique}", "1", [KiB])
    source = f"{source_registry.host}/acme/{unique}:1"
    # The vendor token may not push to goneapp: each job fails, which is an event too.
    first = hooks.call(
        "POST", "/v1/pushes", headers=BOT, json={"source": source, "app_slug": "goneapp"}
    )
    assert first.status_code == 202, first.text
    found = {d["subscription"]: d for d in wait_settled(hooks, first.json()["id"], 2)}
    assert found["ops-gone"]["state"] == "gone" and found["ops-gone"]["last_status"] == 410
    assert found["ops-gone"]["url"] is None  # a standing subscription: by name only
    assert gone.url("/ops").split("//")[1] not in json.dumps(found)
    assert found["chat"]["state"] == "delivered"
    assert len(gone.requests) == 1
    assert gone.requests[0].verify(SUB_SECRET)["type"] == "push.failed"
    chat = json.loads(slack.requests[-1].body)
    assert list(chat) == ["text"] and chat["text"].startswith(f"goneapp/{unique}:1 push to ")
    assert "webhook-signature" not in {k.lower() for k in slack.requests[-1].headers}

    second = hooks.call(
        "POST", "/v1/pushes", headers=BOT, json={"source": source, "app_slug": "goneapp"}
    )
    assert second.status_code == 202, second.text
    [only] = wait_settled(hooks, second.json()["id"], 1)
    assert only["subscription"] == "chat" and only["state"] == "delivered"
    assert len(gone.requests) == 1  # disabled: never called again


def test_a_receiver_slower_than_the_timeout_is_retried(
    hooks: Service, source_images: ImageBuilder, source_registry: Registry, unique: str
) -> None:
    held = threading.Event()
    receiver = WebhookReceiver([Answer(200, hold=held), Answer(200)])
    try:
        job_id = push_with_callback(hooks, source_images, source_registry, unique, receiver.url())
        # The first request is held past the 2 s timeout; the worker gives up and tries again.
        receiver.wait_for(lambda got: len(got) == 2)
        assert receiver.requests[0].answered is None
        held.set()
        [delivery] = wait_settled(hooks, job_id, 1)
        assert delivery["state"] == "delivered" and delivery["attempts"] == 2
        ids = {r.headers["webhook-id"] for r in receiver.requests}
        assert ids == {delivery["id"]}
        assert [r.verify(BOT_SECRET)["type"] for r in receiver.requests] == ["push.succeeded"] * 2
    finally:
        receiver.stop()


def test_callback_to_a_host_outside_the_list_is_refused_at_submit(
    hooks: Service, source_registry: Registry, unique: str
) -> None:
    source = f"{source_registry.host}/acme/{unique}:1"
    for url in ("http://hooks.evil.test/x", "http://[::1]:8080/x", "http://169.254.169.254/"):
        response = hooks.call(
            "POST",
            "/v1/pushes",
            headers=BOT,
            json={"source": source, "app_slug": "myapp", "callback_url": url},
        )
        assert response.status_code == 422, response.text
        assert response.headers["Content-Type"] == "application/problem+json"
        assert list(response.json()["errors"]) == ["callback_url"]
    # The pipeline's key has no webhook secret: it cannot ask for a callback at all.
    response = hooks.call(
        "POST",
        "/v1/pushes",
        json={"source": source, "app_slug": "myapp", "callback_url": "http://127.0.0.1:9/x"},
    )
    assert response.status_code == 403  # a right the key lacks, not a bad field
    assert response.json()["rule"] == "key.webhook_secret_file"
    assert "webhook secret" in response.json()["detail"]


def test_the_webhook_secrets_never_leak(
    hooks: Service, source_images: ImageBuilder, source_registry: Registry, unique: str
) -> None:
    """After signed deliveries (callback and standing), search job JSON, deliveries JSON,
    every API response, the logs, Redis (queue messages included) and the bodies sent."""
    receiver = WebhookReceiver([Answer(500), Answer(200)])
    try:
        job_id = push_with_callback(
            hooks,
            source_images,
            source_registry,
            unique,
            receiver.url("/?token=leak-query-token"),
            callback_events=["push.started", "push.succeeded"],
        )
        wait_settled(hooks, job_id, 2)
        hooks.call("GET", f"/v1/pushes/{job_id}", headers=BOT)
        hooks.call("GET", "/v1/pushes", headers=BOT)
        standing = hooks.call(
            "POST",
            "/v1/pushes",
            headers=BOT,
            json={"source": f"{source_registry.host}/acme/{unique}:1", "app_slug": "goneapp"},
        ).json()["id"]
        wait_settled(hooks, standing, None)
        assert all(r.verify(BOT_SECRET) for r in receiver.requests)
    finally:
        receiver.stop()
    haystacks = {
        "responses": "\n".join(hooks.responses),
        "logs": hooks.logs(),
        "redis": redis_dump(hooks.env["PUSHGATE_REDIS_URL"]),
        "webhook bodies": "\n".join(r.body.decode() for r in receiver.requests),
    }
    assert '"subscription":"callback"' in haystacks["responses"] and len(haystacks["logs"]) > 1000
    assert "webhook" in haystacks["logs"]  # deliveries were logged
    for where, text in haystacks.items():
        for secret in (BOT_SECRET, SUB_SECRET):
            for form in (secret, secret.removeprefix("whsec_")):
                assert form not in text, f"a webhook secret appears in {where}"
        if where != "redis":  # Redis must keep the full URL to call it
            assert "leak-query-token" not in text, f"a callback's query string appears in {where}"


def test_sigkill_of_the_worker_mid_delivery_then_a_new_worker_delivers(
    hooks: Service, source_images: ImageBuilder, source_registry: Registry, unique: str
) -> None:
    held = threading.Event()
    receiver = WebhookReceiver([Answer(200, hold=held), Answer(200)])
    try:
        job_id = push_with_callback(hooks, source_images, source_registry, unique, receiver.url())
        receiver.wait_for(lambda got: len(got) == 1)  # the worker is inside the attempt now
        for worker in list(hooks.workers):
            worker.stop(signal.SIGKILL)  # main process and pool child, no cleanup
        hooks.start_worker("after-kill")
        [delivery] = wait_settled(hooks, job_id, 1)
        assert delivery["state"] == "delivered" and delivery["attempts"] == 2
        assert len(receiver.requests) == 2 and receiver.requests[1].answered == 200
        assert {r.headers["webhook-id"] for r in receiver.requests} == {delivery["id"]}
    finally:
        receiver.stop()
