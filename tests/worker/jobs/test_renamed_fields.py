"""Names changed in the code, not in what is stored or sent: a job's image name is `target` in
its Redis record and in the API, an idempotent replay hashes the body as before, and an audit
event stored under the old key `targets` reads as `destinations`."""

from __future__ import annotations

import hashlib
import json

import redis

from api.schemas import AuditEventSchema, JobSchema
from tests.support.services import RedisServer
from worker.jobs.model import Job, JobStatus, encode_field
from worker.jobs.store import JobStore
from worker.jobs.submit import PushRequest


def _job() -> Job:
    return Job(
        id="b" * 32,
        status=JobStatus.QUEUED,
        source="ghcr.io/acme/worker:1",
        app_slug="myapp",
        image="worker",
        tags=["1"],
        destinations=["registry.replicated.com/myapp/worker:1"],
    )


def test_the_image_name_is_stored_and_shown_as_target() -> None:
    job = _job()
    record = job.to_record()
    assert json.loads(record["target"]) == "worker" and "image" not in record
    assert Job.from_record(record) == job
    assert JobSchema().dump(job)["target"] == "worker"


def test_a_record_written_before_the_rename_loads() -> None:
    before = {
        "id": "c" * 32,
        "status": "succeeded",
        "source": "ghcr.io/acme/api:2",
        "app_slug": "myapp",
        "target": "api",
        "tags": ["2"],
        "destinations": ["registry.replicated.com/myapp/api:2"],
    }
    job = Job.from_record({name: encode_field(value) for name, value in before.items()})
    assert (job.image, job.status) == ("api", JobStatus.SUCCEEDED)


def test_a_replay_hashes_the_body_as_before_the_rename() -> None:
    request = PushRequest(source="ghcr.io/acme/worker:1.0", app_slug="myapp", image="w")
    body_before = {
        "source": "ghcr.io/acme/worker:1.0",
        "app_slug": "myapp",
        "target": "w",
        "tag": None,
        "extra_tags": [],
        "attestations": "strip",
        "platforms": [],
        "deadline_seconds": None,
        "callback_url": None,
        "callback_events": None,
    }
    hashed = hashlib.sha256(json.dumps(body_before, sort_keys=True).encode()).hexdigest()
    assert request.fingerprint() == hashed


def test_an_audit_event_stored_with_targets_reads_as_destinations(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    store = JobStore.from_url(redis_server.url, retention=3600)
    audit = store.audit_log()
    slug = "renamed-" + hashlib.sha256(redis_server.url.encode()).hexdigest()[:8]
    written = ["registry.replicated.com/myapp/worker:1"]
    before = {"action": "push", "result": "accepted", "app_slug": slug, "targets": written}
    redis_client.xadd(audit.stream(slug), {"event": json.dumps(before)})
    audit.append(
        {"action": "push", "result": "accepted", "app_slug": slug, "destinations": written}
    )
    items = audit.page(slug, None, None, 10).items
    assert [item["destinations"] for item in items] == [written, written]
    assert all("targets" not in item for item in items)
    shown = AuditEventSchema().dump(items[0])
    assert shown["destinations"] == shown["targets"] == written
    store.close()
