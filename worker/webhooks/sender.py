"""One attempt at a webhook: sign with `standardwebhooks`, POST without following redirects,
keep the status code and Retry-After. No retries here: the dispatcher schedules them."""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import ssl
import time
from dataclasses import dataclass

import certifi
import httpcore
from standardwebhooks.webhooks import Webhook

from worker.settings import Secret
from worker.webhooks.guard import GuardedBackend, HostPolicy

USER_AGENT = "pushgate-webhooks/1.0"
MAX_RETRY_AFTER = 24 * 3600.0


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: a status code, or an error without one."""

    status: int | None
    error: str = ""
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        """Only a 2xx counts as delivered."""
        return self.status is not None and 200 <= self.status < 300


def signed_headers(secret: Secret, message_id: str, body: str, now: float) -> dict[str, str]:
    """The Standard Webhooks headers for `body`: id, timestamp and the v1 signature."""
    timestamp = dt.datetime.fromtimestamp(math.floor(now), dt.UTC)
    signature = Webhook(secret.reveal()).sign(message_id, timestamp, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(now)),
        "webhook-signature": signature,
    }


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - time.time()), MAX_RETRY_AFTER)


def post(
    url: str,
    body: str,
    headers: dict[str, str],
    timeout: float,
    policy: HostPolicy | None,
) -> Attempt:
    """POST `body` once; never follows a redirect; the body of the answer is not read."""
    context = ssl.create_default_context(cafile=certifi.where())
    pool = httpcore.ConnectionPool(
        ssl_context=context, network_backend=GuardedBackend(policy), retries=0
    )
    request_headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **headers,
    }
    limits = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
    try:
        with (
            pool,
            pool.stream(
                "POST",
                url,
                headers=list(request_headers.items()),
                content=body.encode(),
                extensions={"timeout": limits},
            ) as response,
        ):
            answer = {k.decode().lower(): v.decode("latin-1") for k, v in response.headers}
            return Attempt(response.status, "", parse_retry_after(answer.get("retry-after")))
    except httpcore.TimeoutException as exc:
        return Attempt(None, f"timeout: no answer within {timeout:g} s ({type(exc).__name__})")
    except httpcore.ConnectError as exc:
        return Attempt(None, f"connection failed: {exc}")
    except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
        return Attempt(None, f"{type(exc).__name__}: {exc}")
    except httpcore.UnsupportedProtocol as exc:
        return Attempt(None, f"unsupported URL: {exc}")
