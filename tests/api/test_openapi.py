"""openapi.yaml is generated from the code, must not drift from it, and must tell the truth:
errors as problem+json, 401 wherever a key is needed, links from a new job to its operations."""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from api import create_app
from api.openapi import render
from api.problems import PROBLEM_JSON
from api.spec import CHAT_OPERATIONS, METHODS
from tests.support.api_keys import auth
from worker.chatops.settings import ChatSettings
from worker.secret import Secret
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def committed() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "openapi.yaml").read_text()))


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, item[method])
        for path, item in doc["paths"].items()
        for method in METHODS
        if method in item
    ]


def resolve(doc: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in response:
        return dict(doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]])
    return response


def test_openapi_file_matches_the_code() -> None:
    assert (ROOT / "openapi.yaml").read_text() == render(), "openapi.yaml is stale: make openapi"


def test_openapi_file_is_a_valid_openapi_document() -> None:
    validate(committed())


def test_openapi_documents_every_route() -> None:
    paths = set(committed()["paths"])
    assert {"/v1/pushes", "/v1/pushes/{job_id}", "/v1/pushes/{job_id}/cancel"} <= paths
    assert {"/healthz", "/readyz"} <= paths


def test_every_error_is_documented_as_problem_json() -> None:
    doc = committed()
    for path, method, operation in operations(doc):
        assert "default" not in operation["responses"], (path, method)
        for status, response in operation["responses"].items():
            response = resolve(doc, response)
            if status[0] in "45":
                assert response["content"] == {PROBLEM_JSON: {"schema": PROBLEM_REF}}, (
                    path,
                    method,
                    status,
                )


def test_every_operation_needing_a_key_documents_401_and_503() -> None:
    doc = committed()
    for path, method, operation in operations(doc):
        if operation.get("security", doc["security"]):
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], (path, method)
            assert "Retry-After" in operation["responses"]["503"]["headers"], (path, method)
        else:
            assert "401" not in operation["responses"], (path, method)


def test_every_answer_documents_its_request_id() -> None:
    doc = committed()
    for path, method, operation in operations(doc):
        for status, response in operation["responses"].items():
            headers = resolve(doc, response).get("headers", {})
            assert "X-Request-ID" in headers, (path, method, status)


def test_limits_audit_and_targets_refusals_are_documented() -> None:
    doc = committed()
    push = doc["paths"]["/v1/pushes"]["post"]["responses"]
    assert "Retry-After" in push["429"]["headers"]
    assert "target" in push["403"]["description"]
    audit = doc["paths"]["/v1/audit"]["get"]["responses"]
    assert {"200", "401", "403", "422", "503"} <= set(audit)


def test_a_new_job_links_to_every_operation_on_a_job() -> None:
    doc = committed()
    on_job = {
        f"#/paths/{path.replace('/', '~1')}/{method}"
        for path, method, _ in operations(doc)
        if "{job_id}" in path
    }
    assert len(on_job) >= 2
    created = doc["paths"]["/v1/pushes"]["post"]["responses"]
    for status in ("200", "202"):
        links = created[status]["links"].values()
        assert {link["operationRef"] for link in links} == on_job
        assert all(link["parameters"] == {"job_id": "$response.body#/id"} for link in links)


def test_the_service_serves_its_document_without_a_key(client: FlaskClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.is_json
    served = response.get_json()
    settings = client.application.extensions["pushgate"].settings
    source = served["components"]["schemas"]["PushCreate"]["properties"]["source"]
    assert sorted(settings.source_registries)[0].replace(".", "\\.") in source["pattern"]
    callback = served["components"]["schemas"]["PushCreate"]["properties"]["callback_url"]
    assert re.fullmatch(callback["pattern"], "http://localhost:8080/hook")
    assert not re.fullmatch(callback["pattern"], "https://bot.example.com/hooks/pushgate")
    targets = served["components"]["schemas"]["PushCreate"]["properties"]["targets"]
    names = client.application.extensions["pushgate"].targets.names
    assert targets["items"]["enum"] == names and set(targets["example"]) <= set(names)
    # Only the rules that depend on the settings differ from the file (and this service
    # enables no chat platform, so its document has no chat callbacks).
    generic = committed()
    for path, scheme in CHAT_OPERATIONS.items():
        del generic["paths"][path], generic["components"]["securitySchemes"][scheme]
    for name in ("ChatCommand", "ChatMessage"):
        del generic["components"]["schemas"][name]
    for doc in (served, generic):
        props = doc["components"]["schemas"]["PushCreate"]["properties"]
        for name in ("source", "deadline_seconds", "callback_url", "targets"):
            props[name] = {k: v for k, v in props[name].items() if k == "type"}
    assert served == generic


def test_the_interactive_reference_loads_nothing_from_elsewhere(client: FlaskClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "http" not in csp and "*" not in csp
    html = page.get_data(as_text=True)
    assert "//" not in html.replace("<!DOCTYPE html>", "")
    assert 'data-spec-url="/openapi.json"' in html
    for asset in ("/docs/static/swagger-ui.css", "/docs/static/swagger-ui-bundle.js"):
        assert f'"{asset}"' in html
        with client.get(asset) as served:
            assert served.status_code == 200 and len(served.get_data()) > 10_000
    with client.get("/docs/init.js") as init:
        assert init.status_code == 200 and b"validatorUrl: null" in init.get_data()
    assert client.get("/docs/static/index.html").status_code == 404


def test_405_names_the_allowed_methods(client: FlaskClient) -> None:
    for path, allowed in (
        ("/v1/pushes", {"GET", "POST"}),
        ("/v1/pushes/" + "a" * 32, {"GET"}),
        ("/healthz", {"GET"}),
    ):
        response = client.delete(path, headers=auth())
        assert response.status_code == 405 and response.mimetype == PROBLEM_JSON
        assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_document_is_not_changed_by_serving(client: FlaskClient) -> None:
    first = copy.deepcopy(client.get("/openapi.json").get_json())
    assert client.get("/openapi.json").get_json() == first


def test_chat_commands_are_documented_as_signed_form_posts() -> None:
    doc = committed()
    schemes = doc["components"]["securitySchemes"]
    for path, scheme in CHAT_OPERATIONS.items():
        operation = doc["paths"][path]["post"]
        assert operation["security"] == [{scheme: []}] and schemes[scheme]["in"] == "header"
        body = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]
        assert body["schema"] == {"$ref": "#/components/schemas/ChatCommand"}
        assert {"200", "401", "404", "413"} <= set(operation["responses"])
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
    fields = doc["components"]["schemas"]["ChatCommand"]["properties"]
    assert {"text", "team_id", "channel_id", "user_id", "response_url", "trigger_id"} <= set(fields)
    slack = doc["paths"]["/chatops/slack/commands"]["post"]["parameters"]
    assert [p["name"] for p in slack if p["required"]] == ["X-Slack-Request-Timestamp"]


def test_a_service_documents_only_the_chat_platforms_it_enables(
    settings: Settings, api_keys_file: Path, redis_client: object
) -> None:
    chat = ChatSettings(slack_signing_secret=Secret("s3cret-signing-0a1b"))
    app = create_app(dataclasses.replace(settings, api_keys_file=api_keys_file, chat=chat))
    client = app.test_client()
    served = client.get("/openapi.json").get_json()
    slack = served["paths"]["/chatops/slack/commands"]["post"]
    assert "404" not in slack["responses"] and "401" in slack["responses"]
    assert "/chatops/mattermost/commands" not in served["paths"]
    assert set(served["components"]["securitySchemes"]) == {"apiKey", "slackSignature"}
    # What the document says of a refusal is what the service answers.
    refused = client.post(
        "/chatops/slack/commands",
        data={"text": "help"},
        headers={"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=00"},
    )
    assert refused.status_code == 401 and refused.mimetype == PROBLEM_JSON
    assert refused.headers["WWW-Authenticate"].startswith("Slack-Signature ")
    assert client.post("/chatops/mattermost/commands", data={"token": "x"}).status_code == 404
