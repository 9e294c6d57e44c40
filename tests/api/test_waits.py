"""Long-polls at the API: the per-key cap, and If-None-Match entries that name no version."""

from __future__ import annotations

import hashlib

from flask import Flask
from flask.testing import FlaskClient

from api.state import ApiState
from tests.support.api_keys import auth
from tests.support.services import Registry

KEY = "ci-key-myapp-0001"


def _job(client: FlaskClient, registry: Registry) -> str:
    body = {"source": f"{registry.host}/acme/w:1", "app_slug": "myapp"}
    response = client.post("/v1/pushes", headers=auth(KEY), json=body)
    assert response.status_code == 202
    return str(response.get_json()["id"])


def test_a_key_holding_all_its_waits_gets_a_429(
    app: Flask, client: FlaskClient, source_registry: Registry
) -> None:
    job_id = _job(client, source_registry)
    st: ApiState = app.extensions["pushgate"]
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    leases = [st.waits.take(digest, 16, 30) for _ in range(16)]
    assert all(leases)
    refused = client.get(f"/v1/pushes/{job_id}?wait=1", headers=auth(KEY))
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert refused.get_json()["type"].endswith("/too-many-waits")
    assert client.get(f"/v1/pushes/{job_id}", headers=auth(KEY)).status_code == 200  # no wait
    other = client.get(f"/v1/pushes/{job_id}?wait=0.1", headers=auth("ops-key-all-0002"))
    assert other.status_code == 200  # another key's waits are its own
    st.waits.give_back(digest, str(leases[0]))
    assert client.get(f"/v1/pushes/{job_id}?wait=0.1", headers=auth(KEY)).status_code == 200


def test_an_empty_if_none_match_entry_is_no_version(
    client: FlaskClient, source_registry: Registry
) -> None:
    job_id = _job(client, source_registry)
    headers = {**auth(KEY), "If-None-Match": '"x", ""'}
    response = client.get(f"/v1/pushes/{job_id}?wait=0.2", headers=headers)
    assert response.status_code == 200
