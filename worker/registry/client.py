"""A client for one registry's HTTP API: auth challenges, a token cache, retries, typed errors."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from worker.errors import AuthError, PushError
from worker.redaction import register_secret
from worker.reference import api_host
from worker.registry.credentials import Credentials
from worker.registry.observer import NullObserver, RegistryObserver, retry_reason
from worker.registry.retry import RetryPolicy, RetryState
from worker.registry.status import map_transport_error, raise_for_status

USER_AGENT = "pushgate/0.1"
# One limit per registry host for the whole worker process, however many jobs and blob
# threads share it: registries throttle (429) clients that open too many connections.
_host_slots: dict[str, threading.BoundedSemaphore] = {}
_host_slots_lock = threading.Lock()


def host_slots(host: str, size: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore limiting concurrent requests to `host` (first size wins)."""
    with _host_slots_lock:
        slots = _host_slots.get(host)
        if slots is None:
            slots = _host_slots[host] = threading.BoundedSemaphore(size)
        return slots


_PARAM_RE = re.compile(r'(\w+)="([^"]*)"')
_TOKEN_EARLY_REFRESH = 10.0


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
        credentials: Credentials | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        max_connections: int = 16,
        observer: RegistryObserver | None = None,
    ) -> None:
        self.registry = registry
        self.observer: RegistryObserver = observer or NullObserver()
        self._slots = host_slots(api_host(registry), max_connections)
        scheme = "http" if insecure else "https"
        self.base_url = f"{scheme}://{api_host(registry)}"
        self.retry = retry or RetryPolicy()
        self._credentials = credentials
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )
        self._challenge: Challenge | None = None
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    # -- auth ---------------------------------------------------------------

    def _auth_headers(self, scopes: tuple[str, ...]) -> dict[str, str]:
        challenge = self._challenge
        if challenge is None or challenge.scheme not in ("basic", "bearer"):
            return {}
        if challenge.scheme == "basic":
            if self._credentials is None:
                return {}
            return {"Authorization": httpx.BasicAuth(*self._credentials.basic())._auth_header}
        return {"Authorization": f"Bearer {self._token(scopes)}"}

    def _token(self, scopes: tuple[str, ...]) -> str:
        key = " ".join(scopes)
        with self._lock:
            cached = self._tokens.get(key)
            if cached and cached[1] - _TOKEN_EARLY_REFRESH > time.monotonic():
                return cached[0]
            token, lifetime = self._fetch_token(scopes)
            self._tokens[key] = (token, time.monotonic() + lifetime)
            return token

    def _fetch_token(self, scopes: tuple[str, ...]) -> tuple[str, float]:
        assert self._challenge is not None
        realm = self._challenge.realm
        params = httpx.QueryParams({"service": self._challenge.service, "scope": list(scopes)})
        auth = httpx.BasicAuth(*self._credentials.basic()) if self._credentials else None
        try:
            response = self._http.get(realm, params=params, auth=auth)
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, f"token server {httpx.URL(realm).host}") from None
        if response.status_code in (401, 403):
            who = f"as {self._credentials.username!r}" if self._credentials else "anonymously"
            raise AuthError(
                f"the token server of {self.registry} refused to log in {who}: "
                "check the registry username and token"
            )
        raise_for_status(response, f"token for {self.registry}")
        body = response.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise AuthError(f"the token server of {self.registry} returned no token")
        register_secret(token)
        return token, float(body.get("expires_in") or 60)

    def _learn(self, response: httpx.Response, scopes: tuple[str, ...]) -> bool:
        """Take in a 401's challenge; True when a retry with new credentials can help."""
        header = response.headers.get("WWW-Authenticate", "")
        if not header:
            return False
        challenge = parse_challenge(header)
        sent = response.request.headers.get("Authorization", "")
        with self._lock:
            self._challenge = challenge
            cached = self._tokens.get(" ".join(scopes))
            if cached and sent == f"Bearer {cached[0]}":
                del self._tokens[" ".join(scopes)]
        if challenge.scheme == "basic":
            return self._credentials is not None and not sent.startswith("Basic ")
        return challenge.scheme == "bearer"

    # -- requests -----------------------------------------------------------

    def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        scopes: tuple[str, ...],
        what: str,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
        ok: Iterable[int] = (200, 201, 202, 204),
    ) -> httpx.Response:
        """Send a request with a replayable body, retrying auth and transient failures."""
        with self.stream(
            method,
            url,
            scopes=scopes,
            what=what,
            headers=headers,
            params=params,
            content=content,
            ok=ok,
        ) as response:
            response.read()
            return response

    @contextmanager
    def stream(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        scopes: tuple[str, ...],
        what: str,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        content: bytes | Iterator[bytes] | None = None,
        ok: Iterable[int] = (200, 201, 202, 204),
        follow_redirects: bool = False,
        take_slot: bool = True,
    ) -> Iterator[httpx.Response]:
        """Open a response whose body the caller streams; raises a typed error on failure.

        A body given as an iterator is sent once: it is never retried here. `take_slot`
        False is for a request made while this thread already holds a slot on this host.
        """
        replayable = not isinstance(content, Iterator)
        ok_codes = set(ok)
        auth_retried = False
        state = self.retry.begin(what, replayable)
        while state.next_attempt():
            if state.tries > 1:
                self.observer.retry(self.registry, retry_reason(state.last_error))
            with self._slots if take_slot else contextlib.nullcontext():
                done, response = self._attempt(
                    method,
                    url,
                    scopes,
                    what,
                    headers,
                    params,
                    content,
                    follow_redirects,
                    ok_codes,
                    state,
                )
                if done and response is not None:
                    try:
                        yield response
                    finally:
                        response.close()
                    return
            if response is None:
                continue
            if response.status_code == 401 and replayable and not auth_retried:
                auth_retried = True
                if self._learn(response, scopes):
                    state.refund()
                    continue
            try:
                raise_for_status(response, what, scopes)
            except PushError as error:
                state.failed(error)
        raise state.give_up()

    def _attempt(
        self,
        method: str,
        url: str | httpx.URL,
        scopes: tuple[str, ...],
        what: str,
        headers: dict[str, str] | None,
        params: dict[str, str] | None,
        content: bytes | Iterator[bytes] | None,
        follow_redirects: bool,
        ok: set[int],
        state: RetryState,
    ) -> tuple[bool, httpx.Response | None]:
        """Send once: (True, open response) on success; (False, read error response) on an
        HTTP error; (False, None) on a transport fault, recorded in `state`."""
        try:
            request = self._http.build_request(
                method,
                url,
                headers={**(headers or {}), **self._auth_headers(scopes)},
                params=params,
                content=content,
            )
            response = self._http.send(request, stream=True, follow_redirects=follow_redirects)
        except httpx.HTTPError as exc:
            self.observer.request(self.registry, method, "error")
            state.failed(map_transport_error(exc, what))
            return False, None
        self.observer.request(self.registry, method, str(response.status_code))
        if response.status_code in ok:
            return True, response
        try:
            response.read()
        except httpx.HTTPError as exc:
            state.failed(map_transport_error(exc, what))
            return False, None
        finally:
            response.close()
        return False, response

    def blob_url(self, repository: str, digest: str) -> str:
        """The path of a blob in `repository`."""
        return f"/v2/{repository}/blobs/{digest}"

    def manifest_url(self, repository: str, reference: str) -> str:
        """The path of a manifest (by tag or digest) in `repository`."""
        return f"/v2/{repository}/manifests/{reference}"


def pull_scope(repository: str) -> str:
    """The token scope to read `repository`."""
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    """The token scope to read and write `repository`."""
    return f"repository:{repository}:pull,push"
