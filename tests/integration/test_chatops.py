"""Slash commands through the whole service: Slack's signed requests and Mattermost's token,
grants from the chat-ops file, and updates delivered to a receiver standing in for the
command's response_url after a real push through real registries."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.chat import (
    MM_TEAM,
    SLACK_CHANNEL,
    SLACK_TEAM,
    SLACK_USER,
    blocks,
    chat_text,
    mattermost_form,
    send,
    sign,
    slack_form,
)
from tests.support.images import ImageBuilder
from tests.support.pushgate import Service, launch, redis_db
from tests.support.receiver import WebhookReceiver
from tests.support.services import RedisServer, Registry

KiB = 1024
SIGNING_SECRET = secrets.token_hex(16)
MM_TOKEN = secrets.token_urlsafe(24)
AUDITOR_KEY = "chat-auditor-key-91c2"
AUDITOR = {"Authorization": f"Bearer {AUDITOR_KEY}"}
SLACK_PATH, MM_PATH = "/chatops/slack/commands", "/chatops/mattermost/commands"


def _key(name: str, slugs: list[str], **extra: Any) -> dict[str, Any]:
    presented = extra.pop("presented", secrets.token_hex(16))
    return {
        "name": name,
        "app_slugs": slugs,
        "key_sha256": hashlib.sha256(presented.encode()).hexdigest(),
        **extra,
    }


@pytest.fixture(scope="module")
def chat(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    vendor_registry: Registry,
) -> Iterator[Service]:
    """The service with a Slack signing secret, a Mattermost token and one grant: the release
    channel's user and the Mattermost team act as key `release-chat` (app myapp only)."""
    workdir = tmp_path_factory.mktemp("chatops")
    (workdir / "slack.secret").write_text(SIGNING_SECRET + "\n")
    (workdir / "mattermost.token").write_text(MM_TOKEN)
    grants = [
        {
            "key": "release-chat",
            "slack": {"team": SLACK_TEAM, "channels": [SLACK_CHANNEL], "users": [SLACK_USER]},
            "mattermost": {"team": MM_TEAM},
        }
    ]
    (workdir / "chatops.json").write_text(json.dumps(grants))
    svc = launch(
        workdir,
        redis_db(redis_server),
        source_registry.host,
        vendor_registry.host,
        shared_env={
            "PUSHGATE_SLACK_SIGNING_SECRET_FILE": str(workdir / "slack.secret"),
            "PUSHGATE_MATTERMOST_TOKEN_FILE": str(workdir / "mattermost.token"),
            "PUSHGATE_CHATOPS_FILE": str(workdir / "chatops.json"),
            "PUSHGATE_CHATOPS_RESPONSE_HOSTS": "127.0.0.1:*",
        },
        extra_keys=[
            _key("release-chat", ["myapp"]),
            _key("auditor", ["*"], presented=AUDITOR_KEY, audit=True),
        ],
    )
    yield svc
    svc.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """Stands in for the command's response_url."""
    found = WebhookReceiver()
    yield found
    found.stop()


def job_id_in(answer: dict[str, Any]) -> str:
    """The job id an answer names."""
    match = re.search(r"job ([0-9a-f]{32})", answer["text"])
    assert match, answer
    return match.group(1)


def jobs_of(svc: Service, source: str) -> list[dict[str, Any]]:
    """The jobs (of any app) whose source is `source`."""
    items = svc.call("GET", "/v1/pushes?limit=100", headers=AUDITOR).json()["items"]
    return [job for job in items if job["source"] == source]


def audit_events(svc: Service) -> list[dict[str, Any]]:
    """The whole audit trail."""
    response = svc.call("GET", "/v1/audit?limit=500", headers=AUDITOR)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def headlines(receiver: WebhookReceiver) -> list[str]:
    """The first line of each message posted to the response_url."""
    return [chat_text(r).splitlines()[0] for r in receiver.requests]


def test_slack_push_answers_at_once_then_reports_queued_running_and_the_end(
    chat: Service,
    source_images: ImageBuilder,
    source_registry: Registry,
    receiver: WebhookReceiver,
    unique: str,
) -> None:
    source_images.image(f"acme/{unique}", "1", [KiB, 64 * KiB])
    source = f"{source_registry.host}/acme/{unique}:1"
    form = slack_form(
        f"push {source} --app myapp", receiver.url("/commands/T0/1/secretpath"), "1.2.a"
    )
    started = time.monotonic()
    response = send(chat.url, SLACK_PATH, sign(SIGNING_SECRET, form))
    took = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert took < 3.0  # Slack's limit; the push is only queued
    answer = response.json()
    assert answer["response_type"] == "ephemeral" and answer["text"].startswith("Push queued")
    job_id = job_id_in(answer)
    job = chat.wait_for(job_id)
    assert job["status"] == "succeeded", job
    receiver.wait_for(lambda got: len(got) >= 3, timeout=60)
    time.sleep(0.5)  # nothing more may come
    assert sorted(headlines(receiver)) == ["Push queued", "Push running", "Push succeeded"]
    [queued] = [r for r in receiver.requests if chat_text(r).startswith("Push queued")]
    assert "to send (the plan's count)" in chat_text(queued)
    [end] = [r for r in receiver.requests if chat_text(r).startswith("Push succeeded")]
    assert job["digest"] in chat_text(end)
    assert blocks(end)[0]["text"]["type"] == "mrkdwn"
    assert all(r.path == "/commands/T0/1/secretpath" for r in receiver.requests)
    [event] = [e for e in audit_events(chat) if e["job_id"] == job_id]
    assert event["action"] == "push" and event["result"] == "accepted"
    assert event["key_name"] == "release-chat"
    assert event["chat_user"] == f"slack:{SLACK_TEAM}/{SLACK_USER} (alice)"
    deliveries = chat.call("GET", f"/v1/pushes/{job_id}/deliveries", headers=AUDITOR).json()
    assert {d["url"] for d in deliveries["items"]} == {f"http://127.0.0.1:{receiver.port}/…"}
    logs = chat.logs()
    assert SIGNING_SECRET not in logs and "secretpath" not in logs


def test_bad_signature_old_timestamp_and_replay_are_refused_and_queue_nothing(
    chat: Service, source_images: ImageBuilder, source_registry: Registry, unique: str
) -> None:
    source_images.image(f"acme/{unique}", "1", [KiB])
    source = f"{source_registry.host}/acme/{unique}:1"
    form = slack_form(f"push {source} --app myapp", "http://127.0.0.1:9/r", uuid.uuid4().hex)
    forged = send(chat.url, SLACK_PATH, sign("not-the-secret", form))
    old = send(chat.url, SLACK_PATH, sign(SIGNING_SECRET, form, at=time.time() - 301))
    unsigned = chat.http.post(chat.url + SLACK_PATH, content="text=help")
    for refused in (forged, old, unsigned):
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    assert "5 minutes" in old.json()["detail"]
    assert jobs_of(chat, source) == []
    request = sign(SIGNING_SECRET, form)
    assert send(chat.url, SLACK_PATH, request).status_code == 200
    replayed = send(chat.url, SLACK_PATH, request)
    assert replayed.status_code == 401 and "replay" in replayed.json()["detail"]
    assert len(jobs_of(chat, source)) == 1


def test_a_retried_command_with_the_same_trigger_id_makes_one_job(
    chat: Service, source_images: ImageBuilder, source_registry: Registry, unique: str
) -> None:
    source_images.image(f"acme/{unique}", "1", [KiB])
    source = f"{source_registry.host}/acme/{unique}:1"
    form = slack_form(f"push {source} --app myapp", "http://127.0.0.1:9/r", "7.7.retried")
    first = send(chat.url, SLACK_PATH, sign(SIGNING_SECRET, form, at=time.time() - 2))
    again = send(chat.url, SLACK_PATH, sign(SIGNING_SECRET, form))
    assert first.status_code == again.status_code == 200
    assert job_id_in(first.json()) == job_id_in(again.json())
    assert again.json()["text"].startswith("Already queued")
    assert len(jobs_of(chat, source)) == 1


def test_an_unmapped_user_is_told_and_nothing_is_queued(
    chat: Service, source_images: ImageBuilder, source_registry: Registry, unique: str
) -> None:
    source_images.image(f"acme/{unique}", "1", [KiB])
    source = f"{source_registry.host}/acme/{unique}:1"
    text = f"push {source} --app myapp"
    form = slack_form(text, "http://127.0.0.1:9/r", uuid.uuid4().hex, user_id="U0MALLORY")
    response = send(chat.url, SLACK_PATH, sign(SIGNING_SECRET, form))
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral" and "not mapped" in answer["text"]
    assert jobs_of(chat, source) == []
    refusal = [
        e for e in audit_events(chat) if e["chat_user"] == f"slack:{SLACK_TEAM}/U0MALLORY (alice)"
    ]
    assert [(e["action"], e["result"], e["reason"]) for e in refusal] == [
        ("authenticate", "refused", "unmapped")
    ]


def test_the_key_rights_and_the_response_url_hosts_hold_for_commands(
    chat: Service, source_images: ImageBuilder, source_registry: Registry, unique: str
) -> None:
    source_images.image(f"acme/{unique}", "1", [KiB])
    source = f"{source_registry.host}/acme/{unique}:1"
    other_app = slack_form(f"push {source} --app shared", "http://127.0.0.1:9/r", "1.other")
    answer = send(chat.url, SLACK_PATH, sign(SIGNING_SECRET, other_app)).json()
    assert answer["text"].startswith("Refused: Forbidden") and "'shared'" in answer["text"]
    elsewhere = slack_form(f"push {source} --app myapp", "https://evil.example/r", "1.evil")
    answer = send(chat.url, SLACK_PATH, sign(SIGNING_SECRET, elsewhere)).json()
    assert "PUSHGATE_CHATOPS_RESPONSE_HOSTS" in answer["text"]
    assert jobs_of(chat, source) == []
    foreign = chat.submit(source=source, app_slug="shared")
    status = slack_form(f"status {foreign}", "http://127.0.0.1:9/r", "1.status")
    answer = send(chat.url, SLACK_PATH, sign(SIGNING_SECRET, status)).json()
    assert answer["text"].startswith("Refused: Forbidden")
    plan_form = slack_form(f"plan {source} --app myapp", "http://127.0.0.1:9/r", "1.plan")
    started = time.monotonic()
    answer = send(chat.url, SLACK_PATH, sign(SIGNING_SECRET, plan_form)).json()
    assert time.monotonic() - started < 3.0
    assert answer["text"].startswith("Plan: allowed") and "2 to send" in answer["text"]
    help_form = slack_form("help", "http://127.0.0.1:9/r", "1.help")
    answer = send(chat.url, SLACK_PATH, sign(SIGNING_SECRET, help_form)).json()
    assert "push SOURCE --app APP" in answer["text"]


def test_mattermost_commands_with_the_token_push_and_report(
    chat: Service,
    source_images: ImageBuilder,
    source_registry: Registry,
    receiver: WebhookReceiver,
    unique: str,
) -> None:
    source_images.image(f"acme/{unique}", "1", [KiB, 2 * KiB])
    source = f"{source_registry.host}/acme/{unique}:1"
    text = f"push {source} --app myapp --extra-tag latest"
    bad = mattermost_form(text, receiver.url("/hooks/mm"), "mm-1", "wrong-token")
    refused = chat.http.post(chat.url + MM_PATH, data=bad)
    assert refused.status_code == 401 and jobs_of(chat, source) == []
    good = mattermost_form(text, receiver.url("/hooks/mm"), "mm-1", MM_TOKEN)
    started = time.monotonic()
    response = chat.http.post(chat.url + MM_PATH, data=good)
    assert time.monotonic() - started < 3.0
    assert response.status_code == 200, response.text
    job_id = job_id_in(response.json())
    again = chat.http.post(chat.url + MM_PATH, data=good)
    assert job_id_in(again.json()) == job_id
    assert chat.wait_for(job_id)["status"] == "succeeded"
    receiver.wait_for(lambda got: len(got) >= 3, timeout=60)
    assert sorted(headlines(receiver)) == [
        "**Push queued**",
        "**Push running**",
        "**Push succeeded**",
    ]
    assert all("blocks" not in json.loads(r.body) for r in receiver.requests)
    status = mattermost_form(f"status {job_id}", receiver.url(), "mm-2", MM_TOKEN)
    answer = chat.http.post(chat.url + MM_PATH, data=status).json()
    assert "succeeded" in answer["text"] and answer["response_type"] == "ephemeral"
    elsewhere = {**mattermost_form(text, receiver.url(), "mm-3", MM_TOKEN), "team_id": "other"}
    answer = chat.http.post(chat.url + MM_PATH, data=elsewhere).json()
    assert answer["response_type"] == "ephemeral" and "not mapped" in answer["text"]
    assert len(jobs_of(chat, source)) == 1
    assert MM_TOKEN not in chat.logs()
