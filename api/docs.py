"""The service's own API document, with no key: /openapi.json for generators, and /docs, a
Swagger UI served from the installed package (never a CDN: its CSP allows this origin only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path

from api.csp import content_security_policy
from api.spec import OPENAPI_EXTENSION, document
from api.state import state

docs = Blueprint("docs", __name__)
HERE = Path(__file__).parent
SWAGGER_UI_FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js"})
# Swagger UI sets inline styles and data: images, and posts no forms.
CSP = content_security_policy(
    style_src="'self' 'unsafe-inline'",
    img_src="'self' data:",
    font_src="'self'",
    form_action="'none'",
)
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>pushgate API</title>
  <link rel="stylesheet" href="{css}">
</head>
<body>
  <div id="swagger-ui" data-spec-url="{spec}"></div>
  <script src="{bundle}"></script>
  <script src="{init}"></script>
</body>
</html>
"""


def _document() -> dict[str, Any]:
    """This service's document, built once per process."""
    cached: dict[str, Any] | None = current_app.config.get("PUSHGATE_OPENAPI")
    if cached is None:
        cached = document(
            current_app.extensions[OPENAPI_EXTENSION], state().settings, state().targets.names
        )
        current_app.config["PUSHGATE_OPENAPI"] = cached
    return cached


@docs.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI document of this service, narrowed to its settings."""
    return jsonify(_document())


@docs.get("/docs")
def reference() -> Response:
    """An interactive reference of the API (Swagger UI)."""
    page = _PAGE.format(
        css=url_for("docs.swagger_ui", filename="swagger-ui.css"),
        bundle=url_for("docs.swagger_ui", filename="swagger-ui-bundle.js"),
        init=url_for("docs.init_script"),
        spec=url_for("docs.openapi_json"),
    )
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CSP
    return response


@docs.get("/docs/init.js")
def init_script() -> Response:
    """Starts Swagger UI on the document (a file, so the CSP needs no inline script)."""
    return send_from_directory(HERE, "docs.js", mimetype="text/javascript")


@docs.get("/docs/static/<path:filename>")
def swagger_ui(filename: str) -> Response:
    """Swagger UI's files, from the swagger-ui-bundle package."""
    if filename not in SWAGGER_UI_FILES:
        return Response(status=404)
    return send_from_directory(str(swagger_ui_path), filename)
