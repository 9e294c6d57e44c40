"""The SSRF guard of callback URLs: allowed hosts, no private addresses, checked on the address
actually connected to (so a DNS answer cannot slip past what the submit check saw)."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpcore

Resolve = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2048
# The grammar a callback URL must follow, published in the OpenAPI document: visible ASCII,
# http(s), optional RFC 3986 user info, a host, a port urlsplit takes (0-65535), then anything.
_USERINFO = r"(?:[A-Za-z0-9._~!$&'()*+,;=:%-]*@)?"
_ANY_HOST = r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])"
_PORT = (
    r"(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])?)?"
)
_REST = r"(?:[/?#][!-~]*)?"


class CallbackRefused(Exception):
    """A callback URL or the address it resolves to is not allowed."""


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (every family), in resolver order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _any_case(text: str) -> str:
    """`text` as a regex matching it in any letter case (JSON Schema patterns take no flags)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in text)


def _host_pattern(entry: str) -> str:
    # No trailing dot: whether `name.` resolves is up to DNS, so the pattern does not promise it.
    if entry.startswith("*."):
        return r"[A-Za-z0-9.-]*" + _any_case(entry[1:])
    if ":" in entry:  # an IPv6 address, bracketed in a URL
        return r"\[" + _any_case(entry) + r"\]"
    return _any_case(entry)


def callback_url_pattern(hosts: frozenset[str] | None = None) -> str:
    """The callback URLs accepted: any host, or only those PUSHGATE_WEBHOOK_HOSTS allows
    (`hosts`; whether the host then resolves to an allowed address is not a pattern)."""
    if hosts is None:
        host = _ANY_HOST
    else:
        host = "(?:" + "|".join(_host_pattern(entry) for entry in sorted(hosts)) + ")"
    return f"^{_any_case('http')}[sS]?://{_USERINFO}{host}{_PORT}{_REST}$"


def display_url(url: str) -> str:
    """`url` without its query string, fragment or user info: safe to show and log."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _restricted(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


@dataclass(frozen=True)
class HostPolicy:
    """PUSHGATE_WEBHOOK_HOSTS: exact hosts, or `*.suffix` for any host under suffix."""

    allowed: frozenset[str]
    resolve: Resolve = resolve_host
    setting: str = "PUSHGATE_WEBHOOK_HOSTS"  # the setting that lists them, named in refusals

    def host_allowed(self, host: str) -> bool:
        """True when `host` matches an entry of the list."""
        host = host.lower().rstrip(".")
        for entry in self.allowed:
            if entry.startswith("*."):
                if host.endswith(entry[1:]):
                    return True
            elif host == entry:
                return True
        return False

    def address_allowed(self, host: str, address: str) -> bool:
        """True for a public address, or a private one whose host or address is listed exactly."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not _restricted(ip):
            return True
        return host.lower().rstrip(".") in self.allowed or str(ip) in self.allowed

    def addresses(self, host: str, port: int) -> list[str]:
        """The allowed addresses of `host`; CallbackRefused when there is none."""
        if not self.host_allowed(host):
            raise CallbackRefused(f"host {host} is not in {self.setting}")
        try:
            found = self.resolve(host.strip("[]"), port)
        except (OSError, UnicodeError) as exc:  # the idna codec refuses an empty label
            raise CallbackRefused(f"host {host} does not resolve: {exc}") from None
        allowed = [a for a in found if self.address_allowed(host, a)]
        if not allowed:
            raise CallbackRefused(
                f"host {host} resolves to a loopback, link-local or private address "
                f"({', '.join(found) or 'none'}); list it exactly in {self.setting} "
                "to allow it"
            )
        return allowed

    def check_url(self, url: str) -> None:
        """Refuse a callback URL that is malformed, not http(s), or not allowed here."""
        if len(url) > MAX_URL_LENGTH:
            raise CallbackRefused(f"at most {MAX_URL_LENGTH} characters")
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise CallbackRefused(f"not a valid URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CallbackRefused("must be an http:// or https:// URL with a host")
        if re.fullmatch(callback_url_pattern(), url) is None:
            raise CallbackRefused(f"does not match the pattern {callback_url_pattern()}")
        self.addresses(parts.hostname, port)


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend that connects only to addresses the policy allows
    (all of them when the policy is None: the operator's own standing subscriptions)."""

    def __init__(self, policy: HostPolicy | None) -> None:
        self.policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """Resolve `host`, keep the allowed addresses, connect to the first that answers."""
        if self.policy is None:
            return self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            addresses = self.policy.addresses(host, port)
        except CallbackRefused as exc:
            raise httpcore.ConnectError(f"refused by the SSRF guard: {exc}") from None
        error: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        """Never: callbacks go over TCP."""
        raise httpcore.ConnectError("unix sockets are not allowed for webhooks")

    def sleep(self, seconds: float) -> None:
        """As the default backend."""
        self._inner.sleep(seconds)
