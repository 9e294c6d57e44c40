"""The one place where registry HTTP answers and transport faults become domain errors."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import ssl
from email.utils import parsedate_to_datetime

import httpx

from worker.errors import (
    AuthError,
    InternalError,
    NetworkError,
    NotFoundError,
    PlainHttpError,
    PushError,
    RejectedError,
    TransientRegistryError,
)
from worker.redaction import redact, redact_cut

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})


def registry_error_summary(body: bytes) -> str:
    """A one-line summary of a registry's JSON error body ('' when it has none)."""
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        return ""
    parts = []
    for err in errors[:3]:
        if not isinstance(err, dict):
            continue
        text = redact_cut(f"{err.get('code', 'UNKNOWN')}: {err.get('message', '')}".strip(), 300)
        detail = err.get("detail")
        if detail:
            text += f" ({redact_cut(json.dumps(detail), 300)})"
        parts.append(text)
    return "; ".join(parts)


def registry_error_codes(body: bytes) -> list[str]:
    """The `code` of each error in a registry's JSON error body."""
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        return []
    return [str(e.get("code", "")) for e in errors if isinstance(e, dict)]


def _pushed_repository(scopes: tuple[str, ...]) -> str | None:
    """The repository a request pushes to, from its token scopes (None for reads)."""
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind == "repository" and "push" in actions.split(","):
            return name
    return None


def _registry_of(response: httpx.Response) -> str:
    with contextlib.suppress(RuntimeError):
        return response.request.url.netloc.decode()
    return "the registry"


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), if any."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def raise_for_status(response: httpx.Response, what: str, scopes: tuple[str, ...] = ()) -> None:
    """Raise the domain error for a failed registry answer; return for 2xx/3xx."""
    status = response.status_code
    if status < 400:
        return
    summary = registry_error_summary(response.content)
    if not summary:
        text = redact_cut(response.text.strip().replace("\n", " "), 200)
        summary = f"HTTP {status}" + (f": {text}" if text else "")
    summary = redact(summary)
    error: PushError
    pushed = _pushed_repository(scopes)
    codes = registry_error_codes(response.content)
    if pushed and status == 404 and "NAME_UNKNOWN" in codes:
        host = _registry_of(response)
        error = RejectedError(
            f"{what}: repository {pushed} does not exist on {host}, which does not create "
            f"repositories on push: create {pushed} on {host} first (ECR: aws ecr "
            f"create-repository --repository-name {pushed}) ({summary})"
        )
    elif pushed and (status == 403 or (status == 401 and "DENIED" in codes)):
        error = AuthError(
            f"{what}: the credential for {_registry_of(response)} logged in but lacks push "
            f"rights on {pushed}: grant it push (write) access to that repository ({summary})"
        )
    elif status == 401:
        wanted = ", ".join(scopes) or "access"
        error = AuthError(
            f"{what}: the registry refused the credentials or they do not grant {wanted} "
            f"({summary})"
        )
    elif status == 403:
        error = AuthError(f"{what}: access denied ({summary})")
    elif status == 404:
        error = NotFoundError(f"{what}: not found ({summary})")
    elif status in TRANSIENT_STATUSES:
        error = TransientRegistryError(
            f"{what}: registry answered HTTP {status} ({summary})",
            status,
            retry_after_seconds(response.headers.get("Retry-After")),
        )
    elif 400 <= status < 500:
        error = RejectedError(f"{what}: the registry refused it with HTTP {status}: {summary}")
    else:
        error = InternalError(f"{what}: unexpected HTTP {status} ({summary})")
    raise error


def unexpected_answer(response: httpx.Response, what: str) -> PushError:
    """The error for an answer that is neither an error status nor the success expected."""
    return InternalError(f"{what}: unexpected HTTP {response.status_code} from the registry")


# What OpenSSL says when the far end answers a ClientHello with plain HTTP (1.1/3.0, then 3.2+).
_PLAIN_HTTP_REASONS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE"})


def _spoke_tls_to_plain_http(exc: BaseException) -> bool:
    """True when a TLS handshake failed because the server speaks plain HTTP."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) and seen.reason in _PLAIN_HTTP_REASONS:
            return True
        seen = seen.__cause__ or seen.__context__
    text = str(exc).lower()
    return "wrong version number" in text or "record layer failure" in text


def map_transport_error(
    exc: httpx.HTTPError, what: str, *, token_realm: bool = False
) -> NetworkError:
    """The NetworkError for an httpx transport fault (refused, reset, timed out, ...).

    `token_realm` is True for the token server, whose URL the registry names (so the fix for
    TLS spoken to plain HTTP is the registry's auth setup, not PUSHGATE_INSECURE_REGISTRIES).
    """
    host = ""
    with contextlib.suppress(RuntimeError):
        host = exc.request.url.netloc.decode()
    where = f" ({host})" if host else ""
    if isinstance(exc, httpx.ConnectError) and _spoke_tls_to_plain_http(exc):
        answered = f"{what}: {host or 'the server'} answered the TLS handshake with plain HTTP"
        fix = (
            "the registry's auth realm names https for a plain-HTTP token server"
            if token_realm
            else f"if it serves plain HTTP, add {host or 'its host:port'} to "
            "PUSHGATE_INSECURE_REGISTRIES"
        )
        return PlainHttpError(redact(f"{answered}; {fix}"))
    if isinstance(exc, httpx.ConnectError):
        reason = "cannot connect"
    elif isinstance(exc, httpx.TimeoutException):
        reason = "timed out"
    elif isinstance(exc, httpx.RemoteProtocolError):
        reason = "the connection was dropped"
    else:
        reason = "connection failed"
    return NetworkError(redact(f"{what}: {reason}{where}: {exc}"))
