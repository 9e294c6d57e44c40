"""The HTTP API on real Redis: validation, keys, jobs, listing, the queued message."""

from __future__ import annotations

import base64
import json

import pytest
import redis
from flask.testing import FlaskClient

from tests.support.api_keys import auth
from tests.support.services import Registry
from worker.celery import QUEUE

D = "sha256:" + "cd" * 32


def src(registry: Registry, rest: str = "acme/worker:1.0.1") -> str:
    return f"{registry.host}/{rest}"


def test_post_queues_job_and_message_carries_only_its_id(
    client: FlaskClient, source_registry: Registry, redis_client: redis.Redis
) -> None:
    response = client.post(
        "/v1/pushes",
        headers=auth(),
        json={"source": src(source_registry), "app_slug": "myapp", "extra_tags": ["latest"]},
    )
    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"/v1/pushes/{job['id']}"
    assert job["status"] == "queued"
    assert job["destinations"] == [
        f"{client.application.extensions['pushgate'].settings.registry}/myapp/worker:{t}"
        for t in ("1.0.1", "latest")
    ]
    assert job["progress"]["blobs_total"] == 0 and job["error"] is None
    assert job["created_at"].endswith("Z") and job["started_at"] is None
    messages = redis_client.lrange(QUEUE, 0, -1)
    assert len(messages) == 1
    message = json.loads(messages[0])
    assert message["headers"]["task"] == "pushgate.push"
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert args == [job["id"]] and kwargs == {}
    fetched = client.get(response.headers["Location"], headers=auth())
    assert fetched.status_code == 200 and fetched.get_json() == job


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"app_slug": "myapp"}, "source"),
        ({"source": "ghcr.io/acme/Worker:1", "app_slug": "myapp"}, "source"),
        ({"source": "ghcr.io/acme/w:1", "app_slug": "My_App"}, "app_slug"),
        ({"source": "ghcr.io/acme/w:1", "app_slug": "myapp", "tag": "-x"}, "tag"),
        ({"source": "ghcr.io/acme/w:1", "app_slug": "myapp", "target": "Bad Name"}, "target"),
        (
            {"source": "ghcr.io/acme/w:1", "app_slug": "myapp", "extra_tags": ["ok"] * 21},
            "extra_tags",
        ),
        ({"source": "ghcr.io/acme/w:1", "app_slug": "myapp", "extra_tags": ["a b"]}, "extra_tags"),
        ({"source": "ghcr.io/acme/w:1", "app_slug": "myapp", "colour": "red"}, "colour"),
        ({"source": 42, "app_slug": "myapp"}, "source"),
        (
            {"source": "ghcr.io/acme/w:1", "app_slug": "myapp", "attestations": "maybe"},
            "attestations",
        ),
        ({"source": "ghcr.io/acme/w:1", "app_slug": "myapp", "platforms": ["linux"]}, "platforms"),
    ],
)
def test_invalid_fields_give_problem_naming_the_field(
    client: FlaskClient, body: dict[str, object], field: str
) -> None:
    response = client.post("/v1/pushes", headers=auth(), json=body)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 422 and problem["title"] and problem["type"]
    assert field in problem["errors"]


def test_tag_required_when_source_is_by_digest(
    client: FlaskClient, source_registry: Registry
) -> None:
    response = client.post(
        "/v1/pushes",
        headers=auth(),
        json={"source": src(source_registry, f"acme/w@{D}"), "app_slug": "myapp"},
    )
    assert response.status_code == 422
    assert "tag" in response.get_json()["errors"]
    ok = client.post(
        "/v1/pushes",
        headers=auth(),
        json={"source": src(source_registry, f"acme/w@{D}"), "app_slug": "myapp", "tag": "pinned"},
    )
    assert ok.status_code == 202


def test_source_registry_outside_allow_list_is_refused(client: FlaskClient) -> None:
    response = client.post(
        "/v1/pushes",
        headers=auth(),
        json={"source": "evil.example:8080/x/y:1", "app_slug": "myapp"},
    )
    assert response.status_code == 422
    assert "not allowed" in response.get_json()["errors"]["source"][0]


def test_daemon_source_refused_when_not_enabled(client: FlaskClient) -> None:
    response = client.post(
        "/v1/pushes",
        headers=auth(),
        json={"source": "docker-daemon:myimage:1", "app_slug": "myapp"},
    )
    assert response.status_code == 422
    assert "source" in response.get_json()["errors"]


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 422),
        ('"text"', "application/json", 422),
        ("x" * 70_000, "application/json", 413),
    ],
)
def test_malformed_bodies_are_4xx_problems(
    client: FlaskClient, data: str, content_type: str, status: int
) -> None:
    response = client.post("/v1/pushes", headers=auth(), data=data, content_type=content_type)
    assert response.status_code == status
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic Y2ktazp4"}]
)
def test_missing_or_unknown_key_is_401(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.get("/v1/pushes", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.content_type == "application/problem+json"


def test_key_scoped_to_its_slugs(client: FlaskClient, source_registry: Registry) -> None:
    denied = client.post(
        "/v1/pushes", headers=auth(), json={"source": src(source_registry), "app_slug": "otherapp"}
    )
    assert denied.status_code == 403
    other = client.post(
        "/v1/pushes",
        headers=auth("bot-key-other-0003"),
        json={"source": src(source_registry), "app_slug": "otherapp"},
    ).get_json()
    assert client.get(f"/v1/pushes/{other['id']}", headers=auth()).status_code == 403
    assert (
        client.get(f"/v1/pushes/{other['id']}", headers=auth("ops-key-all-0002")).status_code == 200
    )
    mine = client.post(
        "/v1/pushes", headers=auth(), json={"source": src(source_registry), "app_slug": "myapp"}
    ).get_json()
    listed = client.get("/v1/pushes", headers=auth()).get_json()
    assert [j["id"] for j in listed["items"]] == [mine["id"]]
    everything = client.get("/v1/pushes", headers=auth("ops-key-all-0002")).get_json()
    assert [j["id"] for j in everything["items"]] == [mine["id"], other["id"]]
    assert client.get("/v1/pushes?app_slug=otherapp", headers=auth()).status_code == 403


def test_unknown_job_is_404(client: FlaskClient) -> None:
    response = client.get("/v1/pushes/" + "0" * 32, headers=auth())
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


def test_list_pages_newest_first_with_cursor_and_status(
    client: FlaskClient, source_registry: Registry
) -> None:
    ids = [
        client.post(
            "/v1/pushes",
            headers=auth(),
            json={"source": src(source_registry, f"acme/w:{i}"), "app_slug": "myapp"},
        ).get_json()["id"]
        for i in range(5)
    ]
    seen: list[str] = []
    url = "/v1/pushes?limit=2"
    while True:
        page = client.get(url, headers=auth()).get_json()
        assert len(page["items"]) <= 2
        seen += [j["id"] for j in page["items"]]
        if page["next_cursor"] is None:
            break
        url = f"/v1/pushes?limit=2&cursor={page['next_cursor']}"
    assert seen == list(reversed(ids))
    client.post(f"/v1/pushes/{ids[1]}/cancel", headers=auth())
    cancelled = client.get("/v1/pushes?status=cancelled", headers=auth()).get_json()
    assert [j["id"] for j in cancelled["items"]] == [ids[1]]
    assert client.get("/v1/pushes?limit=0", headers=auth()).status_code == 422
    assert client.get("/v1/pushes?cursor=bogus", headers=auth()).status_code == 422


def test_health_and_readiness_need_no_key(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_job_records_expire_after_retention(
    client: FlaskClient, source_registry: Registry, redis_client: redis.Redis
) -> None:
    job = client.post(
        "/v1/pushes", headers=auth(), json={"source": src(source_registry), "app_slug": "myapp"}
    ).get_json()
    ttl = redis_client.ttl(f"pushgate:job:{job['id']}")
    assert 7 * 86400 - 60 < ttl <= 7 * 86400
