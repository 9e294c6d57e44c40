"""The HTTP API client: bearer key, retries with backoff on 503/429/connection errors."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from pushgate_cli.errors import CliError, Exit

RETRY_STATUSES = {429, 502, 503, 504}
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 15.0


def _problem_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if not isinstance(body, dict):
        return str(body)[:500]
    detail = str(body.get("detail") or body.get("title") or response.reason_phrase)
    for name, messages in (body.get("errors") or {}).items():
        detail += f"\n  {name}: {'; '.join(str(m) for m in messages)}"
    return detail


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class ApiClient:
    """Calls pushgate's API; turns every failure into a CliError with its exit code."""

    def __init__(
        self,
        url: str,
        api_key: str,
        retry_for: float,
        log: Callable[[str], None],
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.retry_for = retry_for
        self.log = log
        self.requests = 0
        self.http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "pushgate-cli"},
            timeout=httpx.Timeout(30.0, connect=10.0),
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def request(
        self, method: str, path: str, ok: tuple[int, ...] = (200,), **kwargs: Any
    ) -> httpx.Response:
        """Send a request, retrying on 429/502/503/504 and connection errors (honouring
        Retry-After) for up to `retry_for` seconds; raise CliError on any other answer."""
        give_up = time.monotonic() + self.retry_for
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                self.requests += 1
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code in ok:
                    return response
                if response.status_code not in RETRY_STATUSES:
                    raise self._failure(response)
                why = f"HTTP {response.status_code}"
                wait = _retry_after(response)
            backoff = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (attempt - 1))
            wait = wait if wait is not None else backoff * random.uniform(0.5, 1.0)
            if time.monotonic() + wait > give_up:
                raise CliError(
                    Exit.UNAVAILABLE,
                    f"pushgate at {self.url} is unavailable ({why}); gave up after "
                    f"{attempt} attempts",
                )
            self.log(f"pushgate unavailable ({why}); retrying in {wait:.1f}s")
            time.sleep(wait)

    def _failure(self, response: httpx.Response) -> CliError:
        detail = _problem_detail(response)
        status = response.status_code
        if status in (401, 403):
            return CliError(Exit.UNAUTHORISED, f"not authorised ({status}): {detail}")
        if 400 <= status < 500:
            return CliError(Exit.INVALID, f"request refused ({status}): {detail}")
        return CliError(Exit.UNAVAILABLE, f"pushgate answered {status}: {detail}")
