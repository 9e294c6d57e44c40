"""The webhook pieces on their own: the SSRF guard on real connections, signing, summaries,
the subscriptions file, and the README's bot verifying a real signed POST."""

from __future__ import annotations

import base64
import importlib
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from werkzeug.serving import make_server

from deploy.demo_stack.pushgate import ROOT
from tests.support.receiver import Answer, WebhookReceiver
from worker.errors import ConfigurationError, InvalidRequest
from worker.jobs.model import Job, JobError, JobStatus, Progress
from worker.timestamps import parse_time
from worker.webhooks.guard import HostPolicy, display_url
from worker.webhooks.payload import event_body, summary
from worker.webhooks.sender import parse_retry_after, post, signed_headers
from worker.webhooks.subscriptions import job_callback, load_subscriptions, parse_secret

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def fixed(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    """A resolver answering from `table`, as a DNS server under an attacker's control would."""

    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    return resolve


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    got = WebhookReceiver([Answer(200)])
    yield got
    got.stop()


@pytest.mark.parametrize(
    ("allowed", "url", "refused"),
    [
        ({"hooks.example.com"}, "https://hooks.example.com/x", False),
        ({"hooks.example.com"}, "https://evil.example.com/x", True),
        ({"*.example.com"}, "https://a.b.example.com/x", False),
        ({"*.example.com"}, "https://example.com/x", True),
        ({"*.example.com"}, "https://badexample.com/x", True),
        ({"*.example.com"}, "https://internal.example.com/x", True),  # resolves to 10.1.2.3
        ({"internal.example.com"}, "https://internal.example.com/x", True),  # the name: no
        ({"*.example.com", "10.1.2.3"}, "https://internal.example.com/x", False),
        ({"*.example.com"}, "http://meta.example.com/", True),  # 169.254.169.254
        ({"meta.example.com"}, "http://meta.example.com/", True),  # named, but not the address
        ({"*.example.com"}, "http://mapped.example.com/", True),  # ::ffff:127.0.0.1
        ({"*.example.com"}, "http://nat64.example.com/", True),  # 64:ff9b::a9fe:a9fe
        ({"*.example.com"}, "http://sixtofour.example.com/", True),  # 2002:7f00:1::
        ({"*.example.com"}, "http://compat.example.com/", True),  # ::a00:1 (10.0.0.1)
        ({"*.example.com"}, "http://nat64-public.example.com/", False),  # 93.184.215.14 inside
        ({"*.example.com"}, "http://mixed.example.com/", True),  # one public, one private
        ({"*.example.com", "10.1.2.3"}, "http://mixed.example.com/", False),
        ({"127.0.0.1"}, "http://127.0.0.1:8080/x", True),  # a port besides 80 and 443
        ({"127.0.0.1:8080"}, "http://127.0.0.1:8080/x", False),
        ({"127.0.0.1:*"}, "http://127.0.0.1:8080/x", False),
        ({"127.0.0.1:8080"}, "http://127.0.0.1:8081/x", True),
        ({"hooks.example.com"}, "https://hooks.example.com:8443/x", True),
        ({"hooks.example.com:8443"}, "https://hooks.example.com:8443/x", False),
        ({"hooks.example.com"}, "http://hooks.example.com/x", False),  # port 80
        ({"localhost:*"}, "http://localhost:8080/x", True),  # 127.0.0.1 is not listed
        ({"localhost:*", "127.0.0.1"}, "http://localhost:8080/x", False),
        ({"hooks.example.com"}, "ftp://hooks.example.com/x", True),
        ({"hooks.example.com"}, "https://hooks.example.com:99999/x", True),
    ],
)
def test_host_policy(allowed: set[str], url: str, refused: bool) -> None:
    policy = HostPolicy(
        frozenset(allowed),
        fixed(
            {
                "hooks.example.com": ["93.184.215.14"],
                "a.b.example.com": ["93.184.215.15"],
                "internal.example.com": ["10.1.2.3"],
                "meta.example.com": ["169.254.169.254"],
                "mapped.example.com": ["::ffff:127.0.0.1"],
                "127.0.0.1": ["127.0.0.1"],
                "localhost": ["127.0.0.1"],
                "nat64.example.com": ["64:ff9b::a9fe:a9fe"],
                "sixtofour.example.com": ["2002:7f00:1::"],
                "compat.example.com": ["::a00:1"],
                "nat64-public.example.com": ["64:ff9b::5db8:d70e"],
                "mixed.example.com": ["93.184.215.14", "10.1.2.3"],
            }
        ),
    )
    if refused:
        with pytest.raises(InvalidRequest) as caught:
            job_callback(url, None, Path("/s"), policy.allowed, resolve=policy.resolve)
        assert caught.value.field == "callback_url"
        # The rule, never the addresses a name resolved to (they may be internal).
        assert not any(a in str(caught.value) for a in ("10.1.2.3", "169.254", "ff9b", "2002"))
    else:
        job_callback(url, None, Path("/s"), policy.allowed, resolve=policy.resolve)


def test_the_address_is_checked_again_when_connecting(receiver: WebhookReceiver) -> None:
    """A name that passed the submit check but now resolves to loopback is not called."""
    url = f"http://hooks.example.com:{receiver.port}/x"
    rebound = fixed({"hooks.example.com": ["127.0.0.1"]})
    refused = post(url, "{}", {}, 5, HostPolicy(frozenset({"*.example.com:*"}), rebound))
    assert refused.status is None and "SSRF guard" in refused.error
    assert receiver.requests == []
    allowed = HostPolicy(frozenset({"*.example.com:*", "127.0.0.1"}), rebound)
    assert post(url, "{}", {}, 5, allowed).status == 200
    assert receiver.requests[0].headers["Host"] == f"hooks.example.com:{receiver.port}"


def test_redirects_are_not_followed(receiver: WebhookReceiver) -> None:
    bouncer = WebhookReceiver([Answer(307, {"Location": receiver.url()})])
    try:
        attempt = post(bouncer.url(), "{}", {}, 5, HostPolicy(frozenset({"127.0.0.1:*"})))
        assert attempt.status == 307 and not attempt.delivered
        assert receiver.requests == []
    finally:
        bouncer.stop()


def test_a_slow_receiver_times_out() -> None:
    held = threading.Event()
    slow = WebhookReceiver([Answer(200, hold=held)])
    try:
        attempt = post(slow.url(), "{}", {}, 0.5, None)
        assert attempt.status is None and attempt.error.startswith("timeout")
    finally:
        slow.stop()


def test_signature_verifies_with_standardwebhooks() -> None:
    body = json.dumps({"type": "push.succeeded"})
    headers = signed_headers(parse_secret(SECRET), "msg_1", body, time.time())
    assert Webhook(SECRET).verify(body, headers) == {"type": "push.succeeded"}
    assert SECRET not in json.dumps(headers)


@pytest.mark.parametrize(
    ("value", "seconds"), [("7", 7.0), ("", None), ("soon", None), ("999999999", 86400.0)]
)
def test_retry_after(value: str, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def job(**fields: object) -> Job:
    base = dict(
        id="a" * 32,
        status=JobStatus.SUCCEEDED,
        source="ghcr.io/acme/worker:1.0.1",
        app_slug="myapp",
        image="worker",
        tags=["1.0.1"],
        destinations=["registry.replicated.com/myapp/worker:1.0.1"],
        digest="sha256:ab12" + "0" * 60,
        started_at=parse_time("2026-01-01T00:00:00.000Z"),
        finished_at=parse_time("2026-01-01T00:00:12.300Z"),
        progress=Progress(blobs_total=5, blobs_skipped=3, bytes_total=176 << 20),
        owner="ci",
        run_id="r",
        request_hash="h",
        callback={"url": "https://bot.example.com/h?token=t0ken", "secret_file": "/s/x"},
    )
    return Job(**{**base, **fields})  # type: ignore[arg-type]


def test_summary_and_body() -> None:
    assert summary("push.succeeded", job()) == (
        "myapp/worker:1.0.1 pushed to registry.replicated.com (sha256:ab1200000000…) in 12.3 s: "
        "176 MiB, 3 of 5 blobs already there"
    )
    failed = job(status=JobStatus.FAILED, error=JobError("auth", "Not authorised", "token refused"))
    assert summary("push.failed", failed).endswith("failed after 12.3 s: auth: token refused")
    body = event_body("push.succeeded", job(), "2026-01-01T00:00:12.400Z")
    data = body["data"]
    assert data["callback_url"] == "https://bot.example.com/h"
    assert not {"owner", "run_id", "request_hash", "callback"} & set(data)
    assert "t0ken" not in json.dumps(body) and "/s/x" not in json.dumps(body)


def test_display_url_drops_query_and_user_info() -> None:
    assert (
        display_url("https://u:p@bot.example.com:8443/h?t=1#f") == "https://bot.example.com:8443/h"
    )


def test_subscriptions_file_errors_name_file_entry_and_field(tmp_path: Path) -> None:
    secret = tmp_path / "s"
    secret.write_text(SECRET)
    path = tmp_path / "webhooks.yaml"
    good = {"name": "ops", "url": "https://x.example.com/", "secret_file": str(secret)}
    cases = [
        ([good, {**good, "name": "b", "events": ["push.done"]}], "#2 (b): `events`"),
        ([{**good, "secret_file": str(tmp_path / "missing")}], "#1 (ops): `secret_file`"),
        ([{**good, "format": "teams"}], "#1 (ops): `format`"),
        ([{**good, "colour": "red"}], "unknown field `colour`"),
        ([good, good], "`name` is used twice"),
        ([{"name": "c", "url": "https://x/", "format": "slack", "secret_file": str(secret)}], "c"),
    ]
    for data, expected in cases:
        path.write_text(json.dumps(data))
        with pytest.raises(ConfigurationError) as caught:
            load_subscriptions(path)
        assert str(path) in str(caught.value) and expected in str(caught.value)
    secret.write_text("whsec_c2hvcnQ=")
    path.write_text(json.dumps([good]))
    with pytest.raises(ConfigurationError, match="24 to 64 bytes"):
        load_subscriptions(path)
    secret.write_text(SECRET)
    [sub] = load_subscriptions(path)
    assert sub.wants("push.failed", "anyapp") and not sub.wants("push.started", "anyapp")


def test_the_readme_bot_verifies_a_real_signed_delivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's 15-line bot, run under a real HTTP server, against pushgate's sender."""
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"A bot that receives them.*?```python\n(.*?)```", readme, re.S)
    assert code is not None
    (tmp_path / "readme_bot.py").write_text(code.group(1))
    monkeypatch.setenv("PUSHGATE_WEBHOOK_SECRET", SECRET)
    monkeypatch.syspath_prepend(str(tmp_path))
    bot = importlib.import_module("readme_bot")
    namespace = vars(bot)
    server = make_server("127.0.0.1", 0, bot.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.port}/hooks/pushgate"
        body = json.dumps(event_body("push.succeeded", job(), "2026-01-01T00:00:12.400Z"))
        headers = signed_headers(parse_secret(SECRET), "msg_readme", body, time.time())
        assert post(url, body, headers, 5, None).status == 204
        assert namespace["seen"] == {"msg_readme"}
        forged = {**headers, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}
        assert post(url, body, forged, 5, None).status == 401
    finally:
        server.shutdown()
