"""Read the Docker daemon's push stream: errors hide inside an HTTP 200 (docker-py #3161, #3277)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from worker.errors import AuthError, NetworkError, PushError, RejectedError
from worker.redaction import redact

# The registry's refusal as the daemon relays it: the HTTP status in errorDetail.code when the
# daemon gives one, else the distribution error code or words at the start of the message.
_AUTH_CODES = frozenset({401, 403})
_AUTH_WORDS = re.compile(
    r"\b(unauthorized|denied|authentication required|no basic auth|insufficient_scope|"
    r"forbidden|401|403)\b"
)
_NETWORK_WORDS = re.compile(
    r"\b(connection refused|no such host|i/o timeout|dial tcp|connection reset|eof|"
    r"tls handshake|timeout|network is unreachable)\b"
)
# Digests and other hex runs are data, not words: a "401" inside one says nothing.
_HEX = re.compile(r"(sha256:)?[0-9a-f]{12,}")


def classify_push_error(message: str, code: object = None) -> PushError:
    """The typed error for an error message found in a push stream, and its errorDetail code
    (the registry's HTTP status, when the daemon passes it on)."""
    text = redact(message.strip()) or "the daemon reported an unnamed error"
    words = _HEX.sub(" ", text.lower())
    if code in _AUTH_CODES or _AUTH_WORDS.search(words):
        return AuthError(f"the registry refused the daemon's push: {text}")
    if _NETWORK_WORDS.search(words):
        return NetworkError(f"the daemon could not reach the registry: {text}")
    return RejectedError(f"the daemon's push failed: {text}")


@dataclass
class PushStreamState:
    """What a push stream said so far: layer progress and the final digest."""

    layer_current: dict[str, int] = field(default_factory=dict)
    layer_total: dict[str, int] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)
    existing: set[str] = field(default_factory=set)
    digest: str | None = None
    size: int | None = None

    @property
    def bytes_done(self) -> int:
        """Bytes pushed over every layer seen so far."""
        return sum(self.layer_current.values())

    @property
    def bytes_total(self) -> int:
        """Sizes of the layers seen so far (as the daemon counts them)."""
        return sum(self.layer_total.values())

    def take(self, message: Mapping[str, Any]) -> None:
        """Fold one decoded stream message in; raise the typed error for an error message."""
        if message.get("error") or message.get("errorDetail"):
            detail = message.get("errorDetail") or {}
            text = str(detail.get("message") or message.get("error"))
            raise classify_push_error(text, detail.get("code"))
        aux = message.get("aux")
        if isinstance(aux, Mapping) and aux.get("Digest"):
            self.digest = str(aux["Digest"])
            self.size = int(aux.get("Size") or 0)
            return
        layer = message.get("id")
        status = str(message.get("status") or "")
        detail = message.get("progressDetail") or {}
        if not layer:
            return
        if status == "Pushing" and detail.get("total"):
            self.layer_total[layer] = int(detail["total"])
            self.layer_current[layer] = int(detail.get("current") or 0)
        elif status in ("Pushed", "Layer already exists") or status.startswith("Mounted from"):
            self.layer_total.setdefault(layer, 0)
            self.layer_current[layer] = self.layer_total[layer]
            self.finished.add(layer)
            if status != "Pushed":
                self.existing.add(layer)


def read_push_stream(
    messages: Iterable[Mapping[str, Any]],
    on_change: Callable[[PushStreamState], None] | None = None,
) -> PushStreamState:
    """Consume a whole push stream; the push counts as done only once its digest arrived."""
    state = PushStreamState()
    for message in messages:
        state.take(message)
        if on_change is not None:
            on_change(state)
    if state.digest is None:
        raise RejectedError(
            "the daemon's push ended without reporting a digest: the push did not complete"
        )
    return state
