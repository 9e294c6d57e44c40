"""A client for one registry's HTTP API: auth challenges, a token cache, retries, typed errors."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import httpx

from worker.errors import AuthError, PushError
from worker.redaction import register_secret
from worker.reference import api_host
from worker.registry.bodies import MAX_ERROR_BYTES, read_capped
from worker.registry.credentials import Credentials, CredentialSource, as_source
from worker.registry.hostslots import host_slots
from worker.registry.phases import CREDENTIALS, timed_as
from worker.registry.request import RegistryRequest
from worker.registry.retry import RetryPolicy, RetryState
from worker.registry.status import map_transport_error, raise_for_status, unexpected_answer
from worker.registry.token_cache import TokenCache, TokenKey, holder_of
from worker.registry.tokens import RealmRules, ask_token, basic_header
from worker.registry.traffic_hooks import NullObserver, RegistryObserver, retry_reason

USER_AGENT = "pushgate/0.1"
_PARAM_RE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Challenge:
    """What a registry asked for in its WWW-Authenticate header."""

    scheme: str
    realm: str = ""
    service: str = ""


def parse_challenge(header: str) -> Challenge:
    """Parse a WWW-Authenticate header value into a Challenge."""
    scheme, _, rest = header.strip().partition(" ")
    params = dict(_PARAM_RE.findall(rest))
    return Challenge(scheme.lower(), params.get("realm", ""), params.get("service", ""))


class RegistryClient:
    """Talks to one registry host; thread-safe, so blob copies can share it."""

    def __init__(
        self,
        registry: str,
        *,
        insecure: bool = False,
        credentials: Credentials | CredentialSource | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        max_connections: int = 16,
        observer: RegistryObserver | None = None,
        token_realm_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.registry = registry
        self._realm = RealmRules(registry, api_host(registry), insecure, token_realm_hosts)
        self.observer: RegistryObserver = observer or NullObserver()
        self._slots = host_slots(api_host(registry), max_connections)
        scheme = "http" if insecure else "https"
        self.base_url = f"{scheme}://{api_host(registry)}"
        self.retry = retry or RetryPolicy()
        self._credentials = as_source(credentials)
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )
        self._challenge: Challenge | None = None
        self._tokens = TokenCache()  # across jobs: the client lives as long as the engine
        self._lock = threading.Lock()

    @timed_as(CREDENTIALS)
    def login(self) -> Credentials | None:
        """The credentials this client logs in with now (for a daemon pushing for us)."""
        return self._credentials.current()

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    # -- auth ---------------------------------------------------------------

    def _auth_headers(self, scopes: tuple[str, ...]) -> dict[str, str]:
        challenge = self._challenge
        if challenge is None or challenge.scheme not in ("basic", "bearer"):
            return {}
        if challenge.scheme == "basic":
            credentials = self._credentials.current()
            return {"Authorization": basic_header(credentials)} if credentials else {}
        return {"Authorization": f"Bearer {self._token(scopes)}"}

    def _token(self, scopes: tuple[str, ...]) -> str:
        challenge = self._challenge
        assert challenge is not None
        holder = holder_of(self._credentials.current())
        key = TokenKey(challenge.realm, challenge.service, " ".join(scopes), holder)
        return self._tokens.get(key, lambda: self._fetch_token(scopes))

    @timed_as(CREDENTIALS)
    def _fetch_token(self, scopes: tuple[str, ...]) -> tuple[str, float]:
        assert self._challenge is not None
        realm = self._challenge.realm
        credentials = self._credentials.current()
        response = self._ask_token(realm, scopes, credentials)
        if response.status_code in (401, 403) and self._credentials.renew(credentials):
            credentials = self._credentials.current()  # a helper's, asked again once
            response = self._ask_token(realm, scopes, credentials)
        if response.status_code in (401, 403):
            who = f"as {credentials.username!r}" if credentials else "anonymously"
            raise AuthError(
                f"the token server of {self.registry} refused to log in {who}: "
                "check the registry username and token"
            )
        raise_for_status(response, f"token for {self.registry}")
        body = response.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise AuthError(f"the token server of {self.registry} returned no token")
        lifetime = float(body.get("expires_in") or 60)
        register_secret(token, ttl=lifetime)
        return token, lifetime

    def _ask_token(
        self, realm: str, scopes: tuple[str, ...], credentials: Credentials | None
    ) -> httpx.Response:
        assert self._challenge is not None
        return ask_token(
            self._http, self._realm, realm, self._challenge.service, scopes, credentials
        )

    def _learn(self, response: httpx.Response, first: bool) -> bool:
        """Take in a 401's challenge; True when a retry with new credentials can help: the
        first 401 teaches the scheme, a second one with Basic sent renews a helper's."""
        header = response.headers.get("WWW-Authenticate", "")
        if not header:
            return False
        challenge = parse_challenge(header)
        sent = response.request.headers.get("Authorization", "")
        with self._lock:
            self._challenge = challenge
        if sent.startswith("Bearer "):
            self._tokens.forget(sent.removeprefix("Bearer "))
        if challenge.scheme == "basic":
            credentials = self._credentials.current()
            if credentials is None:
                return False
            if not sent.startswith("Basic "):
                return True
            # Refused: a helper's cached credentials may have expired; ask it again, once.
            return sent != basic_header(credentials) or self._credentials.renew(credentials)
        return challenge.scheme == "bearer" and first

    # -- requests -----------------------------------------------------------

    def send(self, request: RegistryRequest) -> httpx.Response:
        """Send a request and read its whole answer, retrying auth and transient failures."""
        with self._exchange(request, read=True) as response:
            return response

    def open(self, request: RegistryRequest) -> AbstractContextManager[httpx.Response]:
        """Open a response whose body the caller reads with `chunks`; typed error on failure."""
        return self._exchange(request, read=False)

    def chunks(self, response: httpx.Response, what: str) -> Iterator[bytes]:
        """The raw bytes of an open response as the network reads them (up to 64 KiB each,
        httpcore's read size); faults become NetworkErrors.

        Not re-cut into bigger pieces: httpx's chunker copies each byte three times, and its
        1 MiB buffers are mmap'd and unmapped at every chunk under the allocator settings we
        ship (MALLOC_MMAP_THRESHOLD_), which doubled the CPU of a copy."""
        try:
            yield from response.iter_raw()
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, what) from None

    @contextmanager
    def _exchange(self, request: RegistryRequest, *, read: bool) -> Iterator[httpx.Response]:
        auth_retries = 0
        state = self.retry.begin(request.what, request.replayable)
        while state.next_attempt():
            if state.tries > 1:
                self.observer.retry(self.registry, retry_reason(state.last_error))
            with self._slots if request.take_slot else contextlib.nullcontext():
                done, response = self._attempt(request, state, read=read)
                if done and response is not None:
                    try:
                        yield response
                    finally:
                        response.close()
                    return
            if response is None:
                continue
            if response.status_code == 401 and request.replayable and auth_retries < 2:
                auth_retries += 1
                if self._learn(response, first=auth_retries == 1):
                    state.refund()
                    continue
            try:
                raise_for_status(response, request.what, request.scopes)
                raise unexpected_answer(response, request.what)
            except PushError as error:
                state.failed(error)
        raise state.give_up()

    def _attempt(
        self, request: RegistryRequest, state: RetryState, *, read: bool
    ) -> tuple[bool, httpx.Response | None]:
        """Send once: (True, response) on success, its body read when `read`; (False, read
        error response) on an HTTP error; (False, None) on a transport fault, recorded in
        `state`."""
        try:
            sent = self._http.build_request(
                request.method,
                request.url,
                headers={**request.headers, **self._auth_headers(request.scopes)},
                params=request.params,
                content=request.content,
            )
            response = self._http.send(sent, stream=True, follow_redirects=request.follow_redirects)
        except httpx.HTTPError as exc:
            self.observer.request(self.registry, request.method, "error")
            state.failed(map_transport_error(exc, request.what))
            return False, None
        self.observer.request(self.registry, request.method, str(response.status_code))
        done = response.status_code in request.ok
        if done and not read:
            return True, response
        limit = request.max_body if done else MAX_ERROR_BYTES  # an error shows only its start
        try:
            if limit is None:
                response.read()
            else:
                response = read_capped(response, limit, request.what, refuse=done)
        except httpx.HTTPError as exc:
            state.failed(map_transport_error(exc, request.what))
            return False, None
        finally:
            response.close()
        return done, response


def pull_scope(repository: str) -> str:
    """The token scope to read `repository`."""
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    """The token scope to read and write `repository`."""
    return f"repository:{repository}:pull,push"
