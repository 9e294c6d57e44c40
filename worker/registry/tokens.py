"""Asking a registry's token realm for a bearer token. The realm comes from the registry's
own WWW-Authenticate header, so it gets the registry's credentials only on the registry's
host or a host the operator named (`token_realm_hosts`), only over https (http only for an
insecure registry), and its answer is read only up to MAX_TOKEN_BYTES."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import httpx

from worker.errors import AuthError
from worker.registry.bodies import MAX_TOKEN_BYTES, read_capped
from worker.registry.credentials import Credentials
from worker.registry.status import map_transport_error

# Realms that well-known registries keep on another host than their API.
KNOWN_REALM_HOSTS = {"docker.io": frozenset({"auth.docker.io"})}
_DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class RealmRules:
    """Where one registry's token realm may be: its API host, the named hosts, the scheme."""

    registry: str
    api_host: str  # host[:port] the client talks to
    insecure: bool = False
    trusted: frozenset[str] = frozenset()  # host or host:port, from token_realm_hosts

    def trusts(self, realm: str) -> bool:
        """True when `realm` may be sent the registry's credentials; False: ask anonymously.
        A realm that is not an absolute https URL (http for an insecure registry) is an
        AuthError naming the rule."""
        url = httpx.URL(realm)
        allowed = ("https", "http") if self.insecure else ("https",)
        if url.scheme not in allowed or not url.host:
            raise AuthError(
                f"{self.registry} asked for tokens from a realm that is not an https URL "
                f"({url.scheme or 'no scheme'}://{url.host}); refused: only https realms, or "
                "http for a registry marked insecure, are asked for a token"
            )
        known = KNOWN_REALM_HOSTS.get(self.registry, frozenset())
        names = {self.api_host, self.registry, *known, *self.trusted}
        return _host_port(url) in {_with_port(name, url.scheme) for name in names}


def _host_port(url: httpx.URL) -> str:
    port = url.port or _DEFAULT_PORTS.get(url.scheme, 0)
    return f"{url.host.lower()}:{port}"


def _with_port(name: str, scheme: str) -> str:
    host, colon, port = name.lower().rpartition(":")
    if not colon or not port.isdigit():  # no port given (or an IPv6 address without one)
        host, port = name.lower(), str(_DEFAULT_PORTS.get(scheme, 0))
    return f"{host}:{port}"


def ask_token(
    http: httpx.Client,
    rules: RealmRules,
    realm: str,
    service: str,
    scopes: Collection[str],
    credentials: Credentials | None,
) -> httpx.Response:
    """The realm's answer (read, at most MAX_TOKEN_BYTES): a GET with Basic credentials, or
    an identity token POSTed as an OAuth2 refresh_token grant (as docker does); anonymous
    when the realm is not trusted with them."""
    if not rules.trusts(realm):
        credentials = None  # another host: it gets nothing of ours
    try:
        if credentials is not None and credentials.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": credentials.password.reveal(),
                "service": service,
                "scope": " ".join(scopes),
                "client_id": "pushgate",
            }
            request = http.build_request("POST", realm, data=form)
        else:
            params = httpx.QueryParams({"service": service, "scope": list(scopes)})
            request = http.build_request("GET", realm, params=params)
            if credentials is not None:
                request.headers["Authorization"] = basic_header(credentials)
        response = http.send(request, stream=True)
        return read_capped(response, MAX_TOKEN_BYTES, f"token from {url_host(realm)}", refuse=True)
    except httpx.HTTPError as exc:
        raise map_transport_error(
            exc, f"token server {url_host(realm)}", token_realm=True
        ) from None


def basic_header(credentials: Credentials) -> str:
    """The Basic Authorization header of `credentials`."""
    return httpx.BasicAuth(*credentials.basic())._auth_header


def url_host(url: str) -> str:
    """host[:port] of `url`, for messages (never its path or query)."""
    parsed = httpx.URL(url)
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host
