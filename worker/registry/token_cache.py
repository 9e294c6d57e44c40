"""Bearer tokens kept across jobs: each registry client (one per registry host in a worker
process) keeps the tokens its realm gave, in memory only, until shortly before they expire
or a registry refuses one. A job that pushes where an earlier one did asks for no token.

A token is kept per realm, service, scopes and holder: the holder is a fingerprint of the
credentials it was asked with, so new credentials (a credential helper's renewal) never use
a token of the old ones. Neither tokens nor fingerprints are ever logged or stored."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from worker.registry.credentials import Credentials

EARLY_REFRESH = 10.0  # seconds before its expiry a token is asked for again
MAX_TOKENS = 256  # per registry: one per repository pushed lately, not ever


@dataclass(frozen=True)
class TokenKey:
    """What a token was asked for: the realm and service of the challenge, the scopes, and a
    fingerprint of the credentials ("" anonymous)."""

    realm: str
    service: str
    scopes: str
    holder: str


def holder_of(credentials: Credentials | None) -> str:
    """A fingerprint of `credentials` that tells them apart without holding them."""
    if credentials is None:
        return ""
    material = f"{credentials.username}\0{credentials.password.reveal()}".encode()
    return hashlib.sha256(material).hexdigest()[:32]


class TokenCache:
    """Tokens by TokenKey; thread-safe, one fetch per key at a time."""

    def __init__(self, max_tokens: int = MAX_TOKENS, early_refresh: float = EARLY_REFRESH):
        self.max_tokens, self.early_refresh = max_tokens, early_refresh
        self._tokens: dict[TokenKey, tuple[str, float]] = {}  # key -> (token, expires)
        self._fetching: dict[TokenKey, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: TokenKey, fetch: Callable[[], tuple[str, float]]) -> str:
        """The cached token for `key`, else the one `fetch` returns (token, lifetime in
        seconds), cached. Other keys' requests (other jobs) go on during a fetch."""
        with self._lock:
            cached = self._valid(key)
            if cached is not None:
                return cached
            flight = self._fetching.setdefault(key, threading.Lock())
        with flight:
            with self._lock:
                cached = self._valid(key)
            if cached is not None:
                return cached
            try:
                token, lifetime = fetch()
            finally:
                with self._lock:
                    self._fetching.pop(key, None)
            self._keep(key, token, time.monotonic() + lifetime)
            return token

    def forget(self, token: str) -> None:
        """Drop `token` wherever it is kept (a registry refused it)."""
        with self._lock:
            for key in [k for k, (kept, _) in self._tokens.items() if kept == token]:
                del self._tokens[key]

    def _valid(self, key: TokenKey) -> str | None:
        """The token kept for `key` unless about to expire (the caller holds the lock)."""
        cached = self._tokens.get(key)
        if cached and cached[1] - self.early_refresh > time.monotonic():
            return cached[0]
        return None

    def _keep(self, key: TokenKey, token: str, expires: float) -> None:
        now = time.monotonic()
        with self._lock:
            # One entry per scope (repository) ever pushed would grow without bound: drop the
            # expired ones, and the oldest past max_tokens, when a new token comes in.
            for stale in [k for k, (_, until) in self._tokens.items() if until <= now]:
                del self._tokens[stale]
            self._tokens.pop(key, None)  # re-inserted last: the oldest entry goes first
            self._tokens[key] = (token, expires)
            while len(self._tokens) > self.max_tokens:
                del self._tokens[next(iter(self._tokens))]
