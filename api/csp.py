"""The one source of the Content-Security-Policy headers: this origin only, nothing framed, no
base URI; each page adds only what it needs beyond that."""

from __future__ import annotations

BASE_DIRECTIVES = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "connect-src": "'self'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def content_security_policy(**changes: str) -> str:
    """The policy with `changes` (directive names with _ for -) over the base directives."""
    directives = {**BASE_DIRECTIVES, **{k.replace("_", "-"): v for k, v in changes.items()}}
    return "; ".join(f"{name} {value}" for name, value in directives.items())
