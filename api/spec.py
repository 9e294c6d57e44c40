"""The OpenAPI document, made to tell the truth: errors as problem+json, every status the code
answers, links between job operations, and a running service's own rules."""

from __future__ import annotations

import copy
import http
import json
from collections.abc import Callable
from typing import Any

from flask import Response
from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException

from api.problems import PROBLEM_JSON, from_http_exception, problem_response
from api.schemas import PUSH_CREATE_RULES, ProblemSchema, PushCreateSchema
from worker.schema_rules import callback_url_pattern, source_pattern
from worker.settings import Settings

OPENAPI_EXTENSION = "pushgate-openapi"
JSON = "application/json"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
JOB_SCHEMA_REF = "#/components/schemas/Job"
JOB_ID_PARAMETER = "job_id"

# Every operation that requires a key answers these too, besides its own statuses.
SECURED_STATUSES = {
    "401": "No valid API key.",
    "503": "Redis unreachable; retry after Retry-After.",
}
# Headers that always come with a status (api/resources.py and api/problems.py send them).
STATUS_HEADERS: dict[str, dict[str, Any]] = {
    "401": {
        "WWW-Authenticate": {
            "description": "How to authenticate: `Bearer` for /v1; for /chatops, the chat "
            "platform's proof (`Slack-Signature`, `Token`).",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    "429": {
        "Retry-After": {
            "description": "Seconds until the key is under its limits again.",
            "required": True,
            "schema": {"type": "integer"},
        }
    },
    "503": {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "required": True,
            "schema": {"type": "integer"},
        }
    },
}
# Every answer carries one (api/request_telemetry.py), whatever its status.
# The chat callbacks (path -> security scheme): a service serves one only when its platform's
# secret is set, and its own document has only those.
CHAT_OPERATIONS = {
    "/chatops/slack/commands": "slackSignature",
    "/chatops/mattermost/commands": "mattermostToken",
}
REQUEST_ID_HEADER = {
    "X-Request-ID": {
        "description": "The request's id, in the service's log lines: the caller's own "
        "X-Request-ID when it is 1 to 128 of `A-Za-z0-9._:/+=-`, else a new one.",
        "required": True,
        "schema": {"type": "string"},
    }
}


class DocumentedApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, answering HTTP errors as problem+json and documenting them so."""

    ERROR_SCHEMA = ProblemSchema
    # No catch-all `default` response: each operation lists the statuses it really answers.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error: HTTPException) -> Response:
        """Render any werkzeug HTTP error as problem+json."""
        return problem_response(from_http_exception(error))

    def _register_responses(self) -> None:
        """Register the error responses flask-smorest refers to (e.g. 422) as problem+json."""
        for status in http.HTTPStatus:
            if status >= 400:
                response = {"description": status.phrase, "schema": self.ERROR_SCHEMA}
                prepare_response(response, self.spec, PROBLEM_JSON)
                self.spec.components.response(status.name, response, lazy=True)
        # Before any blueprint refers to it: the rule across fields that marshmallow cannot say.
        self.spec.components.schema("PushCreate", PUSH_CREATE_RULES, schema=PushCreateSchema)


def problems(blp: Blueprint, **descriptions: str) -> Callable[[Any], Any]:
    """Document error answers as problem+json: `@problems(blp, _404="No such job.")`."""

    def decorate(func: Any) -> Any:
        for name, description in sorted(descriptions.items(), reverse=True):
            func = blp.alt_response(
                int(name.lstrip("_")),
                schema=ProblemSchema,
                description=description,
                content_type=PROBLEM_JSON,
            )(func)
        return func

    return decorate


def document(
    api: Api, settings: Settings | None = None, target_names: list[str] | None = None
) -> dict[str, Any]:
    """The OpenAPI document as a dict; with `settings` (and the names of its targets),
    narrowed to that service's rules."""
    doc: dict[str, Any] = copy.deepcopy(api.spec.to_dict())
    default_security = doc.get("security", [])
    by_job = _operations_taking_job_id(doc)
    for path, item in doc["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation["responses"]
            if operation.get("security", default_security):
                for status, description in SECURED_STATUSES.items():
                    responses.setdefault(status, _problem(description))
            for status, response in responses.items():
                _errors_as_problems(status, response)
                if "$ref" not in response:  # a shared response gets its headers below
                    _add_headers(status, response)
                if status.startswith("2") and _creates_job(path, response):
                    _link(response, by_job)
            operation["responses"] = dict(sorted(responses.items()))
    for response in doc["components"].get("responses", {}).values():
        response.setdefault("headers", {}).update(copy.deepcopy(REQUEST_ID_HEADER))
    _narrow(doc, settings, target_names)
    if settings is not None:
        _narrow_chat(doc, settings)
    _drop_unused_schemas(doc)
    return doc


def _drop_unused_schemas(doc: dict[str, Any]) -> None:
    """flask-smorest registers schemas this API never uses (pagination, its error format)."""
    schemas = doc["components"]["schemas"]
    while True:
        text = json.dumps({k: v for k, v in doc.items() if k != "components"}) + json.dumps(
            {k: v for k, v in doc["components"].items() if k != "schemas"}
        )
        text += json.dumps(schemas)
        unused = [name for name in schemas if f'"#/components/schemas/{name}"' not in text]
        if not unused:
            return
        for name in unused:
            del schemas[name]


def _add_headers(status: str, response: dict[str, Any]) -> None:
    headers = response.setdefault("headers", {})
    headers.update(copy.deepcopy(STATUS_HEADERS.get(status, {})))
    headers.update(copy.deepcopy(REQUEST_ID_HEADER))


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _errors_as_problems(status: str, response: dict[str, Any]) -> None:
    """Errors are served as application/problem+json, whatever a decorator declared."""
    content = response.get("content", {})
    if status[0] in "45" and JSON in content:
        content[PROBLEM_JSON] = content.pop(JSON)


def _creates_job(path: str, response: dict[str, Any]) -> bool:
    """A job from outside any job's path: POST /v1/pushes."""
    schema = response.get("content", {}).get(JSON, {}).get("schema", {})
    return schema.get("$ref") == JOB_SCHEMA_REF and "{" + JOB_ID_PARAMETER + "}" not in path


def _operations_taking_job_id(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (path, method)
        for path, item in doc["paths"].items()
        if "{" + JOB_ID_PARAMETER + "}" in path
        for method in METHODS
        if method in item
    ]


def _link(response: dict[str, Any], targets: list[tuple[str, str]]) -> None:
    """Link a response that created a job to every operation on a job (Schemathesis follows
    these to test a real job)."""
    links = response.setdefault("links", {})
    for path, method in targets:
        pointer = path.replace("~", "~0").replace("/", "~1")
        name = method + "".join(
            part.strip("{}").title().replace("_", "") for part in path.split("/") if part
        )
        links[name] = {
            "operationRef": f"#/paths/{pointer}/{method}",
            "parameters": {JOB_ID_PARAMETER: "$response.body#/id"},
        }


def _narrow(doc: dict[str, Any], settings: Settings | None, target_names: list[str] | None) -> None:
    """Put the rules that depend on the settings into the request schema; without settings,
    say which rules a running service narrows."""
    props = doc["components"]["schemas"]["PushCreate"]["properties"]
    source, deadline = props["source"], props["deadline_seconds"]
    if settings is None:
        source["description"] += (
            " A service accepts only its PUSHGATE_SOURCE_REGISTRIES, and `docker-daemon:NAME`"
            " only with PUSHGATE_DAEMON_SOURCES; its own /openapi.json has the exact pattern."
        )
        deadline["description"] += " At most PUSHGATE_MAX_DEADLINE (here its default)."
        props["targets"]["description"] += " A service's own /openapi.json lists its names."
        deadline["maximum"] = int(Settings().max_deadline)
        props["callback_url"]["description"] += (
            " A service's own /openapi.json names its hosts in the pattern (and has no"
            " callback_url when it allows none); the API key needs a webhook_secret_file."
        )
        return
    source["pattern"] = source_pattern(settings.source_registries, settings.daemon_sources)
    deadline["maximum"] = int(settings.max_deadline)
    if target_names is not None:  # an unknown name is a 422 naming `targets`
        props["targets"]["items"]["enum"] = list(target_names)
        props["targets"]["example"] = list(target_names)[:1]
    if settings.webhook_hosts:
        props["callback_url"]["pattern"] = callback_url_pattern(settings.webhook_hosts)
        del props["callback_url"]["example"]  # its host is not this service's
        props["callback_url"]["description"] += (
            " The host must also resolve to an address the service allows (a loopback,"
            " link-local or private one only when listed exactly)."
        )
    else:  # no host is allowed, so no callback_url is valid here
        del props["callback_url"], props["callback_events"]


def _narrow_chat(doc: dict[str, Any], settings: Settings) -> None:
    """Keep only the chat callbacks this service enables, without the 404 of a disabled one."""
    enabled = {
        "slackSignature": settings.chat.slack_signing_secret is not None,
        "mattermostToken": settings.chat.mattermost_token is not None,
    }
    for path, scheme in CHAT_OPERATIONS.items():
        if enabled[scheme]:
            del doc["paths"][path]["post"]["responses"]["404"]
        else:
            del doc["paths"][path], doc["components"]["securitySchemes"][scheme]
