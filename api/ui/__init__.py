"""The jobs page at /ui/: static files shipped in the package, served with strict headers."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, redirect, send_from_directory
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as WerkzeugResponse

from api.csp import content_security_policy

STATIC = Path(__file__).resolve().parent / "static"
FILES = frozenset(p.name for p in STATIC.iterdir() if p.is_file())

# Only this origin's own files may load; nothing inline, nothing from elsewhere, no framing.
CONTENT_SECURITY_POLICY = content_security_policy()
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

ui = Blueprint("ui", __name__, url_prefix="/ui")


@ui.after_request
def add_security_headers(response: Response) -> Response:
    """Put the CSP and anti-framing headers on every /ui answer, errors included."""
    response.headers.update(SECURITY_HEADERS)
    return response


@ui.get("")
def bare() -> WerkzeugResponse:
    """/ui -> /ui/, so the page's relative links resolve."""
    return redirect("/ui/", 308)


@ui.get("/")
def index() -> Response:
    """The page itself."""
    return send_from_directory(STATIC, "index.html", max_age=0)


@ui.get("/<string:name>")
def asset(name: str) -> Response:
    """One of the page's own files (script, style sheet, icon); nothing else."""
    if name not in FILES:
        raise NotFound()
    return send_from_directory(STATIC, name, max_age=0)
