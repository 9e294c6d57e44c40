"""What the engine tells an observer about its registry traffic (metrics, without a framework).

The engine only calls these hooks; the job side wires them to Prometheus counters."""

from __future__ import annotations

from typing import Protocol

from worker.errors import DeadlineExceeded, NetworkError, PushError, TransientRegistryError


class RegistryObserver(Protocol):
    """Told about every registry request and every retry."""

    def request(self, registry: str, method: str, code: str) -> None:
        """A request ended: `code` is the HTTP status, or `error` when no answer came."""

    def retry(self, registry: str, reason: str) -> None:
        """A request is about to be retried for `reason` (see retry_reason)."""


class NullObserver:
    """Observes nothing: the engine's default."""

    def request(self, registry: str, method: str, code: str) -> None:
        """Ignore the request."""

    def retry(self, registry: str, reason: str) -> None:
        """Ignore the retry."""


def retry_reason(error: PushError | None) -> str:
    """A small, fixed set of retry reasons: throttled, server_error, timeout, network."""
    if isinstance(error, TransientRegistryError):
        if error.status == 429:
            return "throttled"
        return "timeout" if error.status == 408 else "server_error"
    if isinstance(error, DeadlineExceeded) or "timed out" in str(error or ""):
        return "timeout"
    if isinstance(error, NetworkError):
        return "network"
    return "other"
