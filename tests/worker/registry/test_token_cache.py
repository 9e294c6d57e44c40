"""The token cache: one fetch per key however many jobs ask, a new one for new credentials,
after a refusal, or shortly before the token expires."""

from __future__ import annotations

import threading

from worker.registry.credentials import Credentials
from worker.registry.token_cache import TokenCache, TokenKey, holder_of
from worker.settings import Secret

REALM, SERVICE, SCOPES = "https://auth.example/token", "registry", "repository:a/b:pull,push"


class Realm:
    """Hands out numbered tokens of a given lifetime and counts the requests."""

    def __init__(self, lifetime: float = 300.0) -> None:
        self.lifetime, self.asked = lifetime, 0
        self._lock = threading.Lock()

    def fetch(self) -> tuple[str, float]:
        """A new token and its lifetime."""
        with self._lock:
            self.asked += 1
            return f"token-{self.asked}", self.lifetime


def key(credentials: Credentials | None, scopes: str = SCOPES) -> TokenKey:
    """The cache key of `scopes` asked with `credentials` at the test realm."""
    return TokenKey(REALM, SERVICE, scopes, holder_of(credentials))


ALICE = Credentials("alice", Secret("first-password"))


def test_jobs_asking_at_once_share_one_fetch() -> None:
    cache, realm = TokenCache(), Realm()
    tokens: list[str] = []
    threads = [
        threading.Thread(target=lambda: tokens.append(cache.get(key(ALICE), realm.fetch)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert realm.asked == 1
    assert tokens == ["token-1"] * 8


def test_new_credentials_other_scopes_and_a_refusal_each_ask_again() -> None:
    cache, realm = TokenCache(), Realm()
    assert cache.get(key(ALICE), realm.fetch) == "token-1"
    renewed = Credentials("alice", Secret("second-password"))
    assert cache.get(key(renewed), realm.fetch) == "token-2"
    assert cache.get(key(ALICE, "repository:a/c:pull"), realm.fetch) == "token-3"
    assert cache.get(key(None), realm.fetch) == "token-4"
    assert cache.get(key(ALICE), realm.fetch) == "token-1"  # still kept
    cache.forget("token-1")
    assert cache.get(key(ALICE), realm.fetch) == "token-5"
    assert realm.asked == 5


def test_a_token_about_to_expire_is_asked_for_again() -> None:
    cache, realm = TokenCache(early_refresh=10.0), Realm(lifetime=5.0)
    assert cache.get(key(ALICE), realm.fetch) == "token-1"
    assert cache.get(key(ALICE), realm.fetch) == "token-2"


def test_the_cache_keeps_at_most_its_bound() -> None:
    cache, realm = TokenCache(max_tokens=2), Realm()
    for name in ("a/1", "a/2", "a/3"):
        cache.get(key(ALICE, f"repository:{name}:pull"), realm.fetch)
    cache.get(key(ALICE, "repository:a/1:pull"), realm.fetch)  # the oldest went
    assert realm.asked == 4


def test_the_fingerprint_holds_no_credential() -> None:
    fingerprint = holder_of(ALICE)
    assert "first-password" not in fingerprint and "alice" not in fingerprint
    assert fingerprint != holder_of(Credentials("bob", Secret("first-password")))
