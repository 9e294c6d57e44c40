"""Operating pushgate through real gunicorn, Celery workers and Redis: /metrics on the API and
on each worker, JSON log lines tied by job and request id, the audit trail, per-key limits."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.images import ImageBuilder
from tests.support.observed import Observed, key_headers
from tests.support.services import Registry

KiB = 1024
Labels = dict[str, str]


def samples(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a /metrics page: (name, labels) -> value."""
    text = httpx.get(url, timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class Scrapes:
    """The workers' /metrics summed (a job runs on either worker), before and after."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.before = self.total()

    def total(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """The samples of every worker, added up."""
        summed: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for url in self.urls:
            for key, value in samples(url).items():
                summed[key] = summed.get(key, 0.0) + value
        return summed

    def delta(self, after: dict[Any, float], name: str, **labels: str) -> float:
        """How much a series grew since the first scrape."""
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - self.before.get(key, 0.0)


def json_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects logged in a file (every other line is counted by the caller)."""
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            yield json.loads(line)


def test_metrics_on_the_api_and_each_worker_after_a_push(
    observed: Observed, source_images: ImageBuilder, source_registry: Registry, unique: str
) -> None:
    svc = observed.service
    source_images.image(f"acme/{unique}", "1", [64 * KiB, 8 * KiB])
    workers = Scrapes(observed.metrics_urls)
    api_before = samples(svc.url + "/metrics")
    job = svc.push(source=f"{source_registry.host}/acme/{unique}:1", app_slug="myapp")
    assert job["status"] == "succeeded", job
    again = svc.push(source=f"{source_registry.host}/acme/{unique}:1", app_slug="myapp")
    assert again["status"] == "succeeded", again

    after = workers.total()
    assert workers.delta(after, "pushgate_pushes_total", status="succeeded", error_type="") == 2
    assert workers.delta(after, "pushgate_push_duration_seconds_count") == 2
    # The first push uploads config and two layers; the second finds all three there.
    assert workers.delta(after, "pushgate_blobs_total", outcome="uploaded") == 3
    assert workers.delta(after, "pushgate_blobs_total", outcome="skipped") == 3
    uploaded = workers.delta(after, "pushgate_push_bytes_total", outcome="uploaded")
    assert uploaded == job["progress"]["bytes_total"] > 72 * KiB
    assert workers.delta(after, "pushgate_push_bytes_total", outcome="skipped") == uploaded
    vendor = svc.env["PUSHGATE_REGISTRY"]
    puts = workers.delta(
        after, "pushgate_registry_requests_total", registry=vendor, method="PUT", code="201"
    )
    assert puts >= 4  # three blob uploads and the manifest
    source = workers.delta(
        after,
        "pushgate_registry_requests_total",
        registry=source_registry.host,
        method="GET",
        code="200",
    )
    assert source >= 4  # manifest and three blobs
    for key in after:
        assert not any(job["id"] in v or "sha256:" in v for _, v in key[1]), key

    api_after = samples(svc.url + "/metrics")
    posted = (
        "pushgate_http_requests_total",
        frozenset({"method": "POST", "route": "/v1/pushes", "status": "202"}.items()),
    )
    assert api_after[posted] - api_before.get(posted, 0.0) == 2
    assert ("pushgate_jobs", frozenset({"status": "queued"}.items())) in api_after
    assert api_after[("pushgate_jobs", frozenset({"status": "running"}.items()))] >= 0
    assert ("pushgate_queue_length", frozenset()) in api_after
    assert (
        "pushgate_http_request_duration_seconds_count",
        frozenset({"method": "POST", "route": "/v1/pushes", "status": "202"}.items()),
    ) in api_after


def test_json_log_lines_of_a_push_share_its_job_id_and_request_id(
    observed: Observed, source_images: ImageBuilder, source_registry: Registry, unique: str
) -> None:
    svc = observed.service
    source_images.image(f"acme/{unique}", "1", [KiB])
    request_id = f"ci-{uuid.uuid4().hex}"
    response = svc.call(
        "POST",
        "/v1/pushes",
        json={"source": f"{source_registry.host}/acme/{unique}:1", "app_slug": "myapp"},
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 202, response.text
    assert response.headers["X-Request-ID"] == request_id
    job = svc.wait_for(response.json()["id"])
    assert job["status"] == "succeeded" and job["request_id"] == request_id, job
    minted = svc.call("GET", "/v1/pushes").headers["X-Request-ID"]
    assert minted and minted != request_id  # made up when the caller sends none

    api_lines = [line for line in json_lines(svc.api.log) if line.get("job_id") == job["id"]]
    worker_lines = [
        line
        for worker in svc.workers
        for line in json_lines(worker.log)
        if line.get("job_id") == job["id"]
    ]
    assert api_lines and worker_lines
    assert any(line["logger"] == "pushgate.audit" for line in api_lines)
    assert any("succeeded" in line["message"] for line in worker_lines)
    for line in api_lines + worker_lines:
        assert line["request_id"] == request_id, line
        assert line["app_slug"] == "myapp" and line["key_name"] == "pipeline", line
        assert {"time", "level", "logger", "message"} <= line.keys()
    for process in [svc.api, *svc.workers]:  # no line about the push is plain text
        text = process.log.read_text(errors="replace").splitlines()
        assert all(line.startswith("{") for line in text if job["id"] in line), process.log
    assert json.loads(svc.api.log.read_text().splitlines()[0])["logger"] == "gunicorn.error"


def test_audit_trail_shows_refused_pushes_and_failed_logins_with_the_key_name(
    observed: Observed, source_registry: Registry, unique: str
) -> None:
    svc = observed.service
    start = svc.http.get(
        svc.url + "/v1/audit", params={"app_slug": "otherapp"}, headers=key_headers("auditor")
    ).json()
    source = f"{source_registry.host}/acme/{unique}:1"
    refused = svc.call("POST", "/v1/pushes", json={"source": source, "app_slug": "otherapp"})
    assert refused.status_code == 403
    bad = svc.http.post(
        svc.url + "/v1/pushes",
        json={"source": source, "app_slug": "otherapp"},
        headers={"Authorization": "Bearer not-a-key-" + unique},
    )
    assert bad.status_code == 401

    page = svc.http.get(
        svc.url + "/v1/audit", params={"app_slug": "otherapp"}, headers=key_headers("auditor")
    ).json()
    new = page["items"][len(start["items"]) :]
    # The failed login is not kept under the slug its body named: nobody without a key
    # writes into an app's trail.
    assert [(e["action"], e["result"], e["key_name"]) for e in new] == [
        ("push", "refused", "pipeline"),
    ]
    event = new[0]
    assert event["reason"] == "forbidden" and event["status"] == 403
    assert event["source"] == source and event["job_id"] is None
    assert event["client_address"] == "127.0.0.1" and event["time"]

    logins = svc.http.get(
        svc.url + "/v1/audit",
        params={"failed_authentications": "true"},
        headers=key_headers("auditor"),
    ).json()
    failed = [e for e in logins["items"] if e["action"] == "authenticate"]
    assert failed and failed[-1]["key_name"] is None and failed[-1]["result"] == "refused"
    assert failed[-1]["app_slug"] == "otherapp" and failed[-1]["status"] == 401
    assert "not-a-key" not in json.dumps(logins)
    everything = svc.http.get(svc.url + "/v1/audit", headers=key_headers("auditor")).json()
    assert not [e for e in everything["items"] if e["action"] == "authenticate"]
    cursor = everything["items"][-1]["id"]
    later = svc.http.get(
        svc.url + "/v1/audit", params={"cursor": cursor}, headers=key_headers("auditor")
    ).json()
    assert later["items"] == [] or later["items"][0]["id"] > cursor

    logged = [line for line in json_lines(svc.api.log) if line.get("logger") == "pushgate.audit"]
    assert any(
        line.get("result") == "refused"
        and line.get("key_name") == "pipeline"
        and line.get("app_slug") == "otherapp"
        for line in logged
    )
    # Reading the audit needs `audit: true`, and a key of some apps reads only those.
    assert svc.call("GET", "/v1/audit", params={"app_slug": "myapp"}).status_code == 403
    mine = svc.http.get(svc.url + "/v1/audit", headers=key_headers("app-auditor"))
    assert mine.status_code == 403
    other = svc.http.get(
        svc.url + "/v1/audit", params={"app_slug": "otherapp"}, headers=key_headers("app-auditor")
    )
    assert other.status_code == 403


def test_rate_limit_answers_429_with_retry_after(
    observed: Observed, source_images: ImageBuilder, source_registry: Registry, unique: str
) -> None:
    svc = observed.service
    source_images.image(f"acme/{unique}", "1", [KiB])
    body = {"source": f"{source_registry.host}/acme/{unique}:1", "app_slug": "myapp"}
    answers = [
        svc.http.post(svc.url + "/v1/pushes", json=body, headers=key_headers("limited"))
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [202, 202, 429], [a.text for a in answers]
    over = answers[2]
    assert over.headers["Content-Type"] == "application/problem+json"
    assert over.json()["type"].endswith("/rate-limited")
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    for accepted in answers[:2]:
        assert svc.wait_for(accepted.json()["id"])["status"] == "succeeded"


def test_one_keys_backlog_leaves_room_for_another_key(
    observed: Observed, source_images: ImageBuilder, source_registry: Registry, unique: str
) -> None:
    """`backlog` may have one job active: while its push waits on a held source, its next
    push is refused with 429, and another key's push starts and succeeds meanwhile."""
    svc = observed.service
    source_images.image(f"acme/{unique}", "1", [KiB])
    held = {"source": f"{observed.held_source.host}/acme/{unique}:1", "app_slug": "myapp"}
    first = svc.http.post(svc.url + "/v1/pushes", json=held, headers=key_headers("backlog"))
    assert first.status_code == 202, first.text
    first_id = first.json()["id"]
    svc.wait_for(first_id, done=lambda job: job["progress"]["blobs_total"] > 0)

    second = svc.http.post(svc.url + "/v1/pushes", json=held, headers=key_headers("backlog"))
    assert second.status_code == 429, second.text
    assert second.json()["type"].endswith("/too-many-active")
    assert int(second.headers["Retry-After"]) >= 1

    other = svc.push(source=f"{source_registry.host}/acme/{unique}:1", app_slug="myapp")
    assert other["status"] == "succeeded", other
    assert svc.call("GET", f"/v1/pushes/{first_id}").json()["status"] == "running"

    observed.gate.set()
    assert svc.wait_for(first_id)["status"] == "succeeded"
    third = svc.http.post(svc.url + "/v1/pushes", json=held, headers=key_headers("backlog"))
    assert third.status_code == 202, third.text
    assert svc.wait_for(third.json()["id"])["status"] == "succeeded"
