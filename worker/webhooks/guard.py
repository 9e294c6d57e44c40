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
    host, port = _split_entry(entry)
    if host.startswith("*."):
        pattern = r"[A-Za-z0-9.-]*" + _any_case(host[1:])
    elif ":" in host:  # an IPv6 address, bracketed in a URL
        pattern = r"\[" + _any_case(host) + r"\]"
    else:
        pattern = _any_case(host)
    return pattern + _port_pattern(port)


def _port_pattern(port: str | None) -> str:
    """The ports an entry allows, written as _PORT takes them (leading zeros up to four
    digits; no port or an empty one: the scheme's, which must be 80 or 443 then)."""
    if port == "*":
        return _PORT
    if port is None:
        return r"(?::(?:0{0,2}80|0?443)?)?"
    zeros = f"0{{0,{4 - len(port)}}}" if len(port) < 4 else ""  # as _PORT: 5 digits, no zero
    return f"(?::{zeros}{re.escape(port)})"


def callback_url_pattern(hosts: frozenset[str] | None = None) -> str:
    """The callback URLs accepted: any host, or only those PUSHGATE_WEBHOOK_HOSTS allows
    (`hosts`, with their ports; whether the host then resolves to allowed addresses is not a
    pattern)."""
    if hosts is None:
        where = _ANY_HOST + _PORT
    else:
        where = "(?:" + "|".join(_host_pattern(entry) for entry in sorted(hosts)) + ")"
    return f"^{_any_case('http')}[sS]?://{_USERINFO}{where}{_REST}$"


def display_url(url: str) -> str:
    """`url` without its query string, fragment or user info: safe to show and log."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
DEFAULT_PORTS = frozenset({80, 443})


def inner_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, 6to4, NAT64, IPv4-compatible), if
    any: a packet to it may well reach that IPv4 address, so it is judged by it."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if any(address in net for net in _NAT64):
        return low
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # not :: or ::1
        return low
    return None


def _restricted(address: IPAddress) -> bool:
    inner = inner_ipv4(address)
    if inner is not None and _restricted(inner):
        return True
    return not address.is_global or address.is_multicast


def _split_entry(entry: str) -> tuple[str, str | None]:
    """(host, port or None) of a PUSHGATE_WEBHOOK_HOSTS entry: `host`, `host:port`,
    `host:*` (any port), `[v6]:port`, or a bare IPv6 address."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return host, port
    return entry, None


@dataclass(frozen=True)
class HostPolicy:
    """PUSHGATE_WEBHOOK_HOSTS: exact hosts, or `*.suffix` for any host under suffix."""

    allowed: frozenset[str]
    resolve: Resolve = resolve_host
    setting: str = "PUSHGATE_WEBHOOK_HOSTS"  # the setting that lists them, named in refusals

    def _entries(self) -> list[tuple[str, str | None]]:
        return [_split_entry(entry.lower()) for entry in self.allowed]

    def host_allowed(self, host: str, port: int | None = None) -> bool:
        """True when `host` (and `port`: 80 and 443, else one listed with it) matches an
        entry of the list."""
        host = host.lower().rstrip(".").strip("[]")
        for name, listed_port in self._entries():
            matched = host.endswith(name[1:]) if name.startswith("*.") else host == name
            if matched and (
                port is None
                or listed_port in ("*", str(port))
                or (listed_port is None and port in DEFAULT_PORTS)
            ):
                return True
        return False

    def address_allowed(self, address: str) -> bool:
        """True for a public address (judged by the IPv4 inside an IPv6 one that carries
        one), or any address listed exactly."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not _restricted(ip):
            return True
        return str(ip) in {name for name, _ in self._entries()}

    def addresses(self, host: str, port: int) -> list[str]:
        """Every address of `host`, each allowed; CallbackRefused naming the rule (never the
        addresses) otherwise."""
        if not self.host_allowed(host):
            raise CallbackRefused(f"host {host} is not in {self.setting}")
        if not self.host_allowed(host, port):
            raise CallbackRefused(
                f"port {port} of {host}: only 443 and 80, unless {self.setting} lists "
                f"{host}:{port} (or {host}:*)"
            )
        try:
            found = self.resolve(host.strip("[]"), port)
        except (OSError, UnicodeError):  # the idna codec refuses an empty label
            raise CallbackRefused(f"host {host} does not resolve") from None
        if not found or not all(self.address_allowed(a) for a in found):
            raise CallbackRefused(
                f"host {host} resolves to an address that is not public (loopback, "
                "link-local, private, metadata, or such an IPv4 address inside an IPv6 one); "
                f"every address it resolves to must be public or listed exactly in {self.setting}"
            )
        return found

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
