"""The registry proxy of the tests: a reverse proxy in front of a distribution registry.

Its rules (proxy_rules.py) answer in the registry's place: refusals (the vendor's attestation
400, unknown repositories, immutable tags, a revoked credential) and quirks (the referrers
API). Its faults (proxy_faults.py) break the transport. It counts what it answered and what it
forwarded (`stats`).
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from tests.support.proxy_faults import (
    FORTY_TWO_PERCENT,
    Exchange,
    Faults,
    ProxyStats,
    draw_fault,
    early_refusal,
    one_in_four,
)
from tests.support.proxy_rules import Reply, Request, Rule

__all__ = ["FORTY_TWO_PERCENT", "Faults", "ProxyStats", "RegistryProxy", "one_in_four"]

R = TypeVar("R", bound=Rule)

HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "trailer",
}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients that hang up mid-request are the point of these tests


class RegistryProxy:
    """Forwards to the registry on `upstream_port`, unless one of `rules` answers first."""

    def __init__(self, upstream_port: int, *rules: Rule, faults: Faults | None = None) -> None:
        self.upstream_port = upstream_port
        self.rules = list(rules)
        self.faults = faults or Faults()
        self.stats = ProxyStats()
        self.random = random.Random(self.faults.seed)
        self.httpd = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def host(self) -> str:
        """host:port of the proxy."""
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def pick_fault(self, method: str, path: str) -> str | None:
        """Draw the fault for one request, if any."""
        return draw_fault(self.faults, self.stats, self.random, method, path)

    def rule(self, kind: type[R]) -> R:
        """The first of the proxy's rules of this kind."""
        return next(rule for rule in self.rules if isinstance(rule, kind))

    def answer(self, request: Request) -> Reply | None:
        """The first rule's answer in the registry's place, if any."""
        for rule in self.rules:
            reply = rule.answer(request)
            if reply is not None:
                return reply
        return None

    def note(self, request: Request, reply: Reply) -> None:
        """Count an answer about to be sent, and show it to every rule."""
        with self.stats.lock:
            self.stats.answered.append((request.method, request.path, reply.status))
        for rule in self.rules:
            rule.answered(request, reply)


# Like Go's net/http: an early answer reads at most this much of a body it does not want.
LINGER_BYTES = 256 * 1024
PIECE = 1 << 20


def _make_handler(proxy: RegistryProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _length(self) -> int | None:
            """The body's Content-Length, None for a chunked body."""
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                return None
            return int(self.headers.get("Content-Length") or 0)

        def _pieces(self, length: int) -> Iterator[bytes]:
            """Read `length` body bytes in pieces, counted and throttled to the bandwidth."""
            started, done = time.monotonic(), 0
            while done < length:
                piece = self.rfile.read(min(length - done, PIECE))
                if not piece:
                    return
                done += len(piece)
                proxy.stats.add_uploaded(len(piece))
                if proxy.faults.bandwidth:  # a slow link, so tests can act mid-blob
                    ahead = done / proxy.faults.bandwidth - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
                yield piece

        def _read_body(self) -> bytes:
            length = self._length()
            if length is not None:
                return b"".join(self._pieces(length))
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(parts)
            proxy.stats.add_uploaded(len(body))
            return body

        def _refuse_early(self, fault: str) -> Reply:
            """A 503 or 429 before reading the body: a small one is read, a big one cut off."""
            status, headers, body = early_refusal(fault, proxy.faults.retry_after)
            length = self._length()
            keep = length is not None and length <= LINGER_BYTES
            if keep:
                self._read_body()
            elif length:
                for _ in self._pieces(LINGER_BYTES):
                    pass
            return Reply(status, headers, body, close=not keep)

        def _handle(self) -> Reply | None:
            """Work out the answer; None to hang up without one."""
            fault = proxy.pick_fault(self.command, self.path)
            reply: Reply | None
            if fault in ("503", "429"):
                request, reply = Request(self.command, self.path, None), self._refuse_early(fault)
            else:
                request, reply = self._ruled_or_forwarded(fault)
            if reply is not None:
                proxy.note(request, reply)
            return reply

        def _ruled_or_forwarded(self, fault: str | None) -> tuple[Request, Reply | None]:
            """A rule's answer, else the registry's; blob bodies stream on, unread by rules."""
            length = self._length()
            streamed = length is not None and "/manifests/" not in self.path
            request = Request(self.command, self.path, None if streamed else self._read_body())
            ruled = proxy.answer(request)
            if ruled is not None:
                for _ in self._pieces(length if streamed and length else 0):
                    pass  # read all of a refused body: the connection stays usable
                return request, ruled
            if streamed:
                return request, self._forward_streaming(fault, length or 0)
            if fault == "drop" and request.body:
                return request, None  # the upload is lost: no answer at all
            upstream = self._upstream()
            try:
                headers = self._forwarded_headers()
                upstream.request(self.command, self.path, body=request.body, headers=headers)
                return request, self._answer(upstream, fault)
            finally:
                upstream.close()

        def _upstream(self) -> http.client.HTTPConnection:
            return http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=120)

        def _forwarded_headers(self) -> dict[str, str]:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
            headers.pop("Content-Length", None)
            return headers

        def _forward_streaming(self, fault: str | None, length: int) -> Reply | None:
            """Pass the body on as it arrives, or break the request halfway through its body.

            "drop": half the body is read and discarded, then both ends hang up: the registry
            never sees the request (a front that buffers requests, then loses one). "cut": half
            the body reaches the registry before the connection breaks. "corrupt": the body
            arrives with one bit flipped.
            """
            if fault == "drop" and length:
                for _ in self._pieces(length // 2):
                    pass
                return None
            upstream = self._upstream()
            try:
                upstream.putrequest(
                    self.command, self.path, skip_host=True, skip_accept_encoding=True
                )
                for name, value in self._forwarded_headers().items():
                    upstream.putheader(name, value)
                upstream.putheader("Content-Length", str(length))
                upstream.endheaders()
                broken = fault == "cut" and length > 0
                for n, piece in enumerate(self._pieces(length // 2 if broken else length)):
                    if fault == "corrupt" and n == 0:  # one flipped bit the registry must notice
                        piece = bytes([piece[0] ^ 1]) + piece[1:]
                    upstream.send(piece)
                if broken:
                    return None  # the registry keeps what it got, like a real broken link
                return self._answer(upstream, fault)
            finally:
                upstream.close()  # also when the client hung up mid-body

        def _answer(self, upstream: http.client.HTTPConnection, fault: str | None) -> Reply:
            response = upstream.getresponse()
            data = response.read()
            with proxy.stats.lock:
                proxy.stats.forwarded.append(
                    Exchange(
                        self.command,
                        self.path,
                        response.status,
                        dict(self.headers.items()),
                        dict(response.getheaders()),
                    )
                )
            if fault == "stall":
                time.sleep(proxy.faults.stall_seconds)
            kept = [
                (k, v)
                for k, v in response.getheaders()
                if k.lower() not in HOP_HEADERS and k.lower() != "content-length"
            ]
            length = response.getheader("Content-Length")
            kept.append(("Content-Length", length if length is not None else str(len(data))))
            return Reply(response.status, kept, data, cut=fault in ("drop", "cut"))

        def _serve(self) -> None:
            stats = proxy.stats
            with stats.lock:
                stats.in_flight += 1
                stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
            released = False
            try:
                reply = self._handle()
                with stats.lock:  # before the client can see the answer complete
                    stats.in_flight -= 1
                    released = True
                if reply is None:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                headers = list(reply.headers)
                if not any(name.lower() == "content-length" for name, _ in headers):
                    headers.append(("Content-Length", str(len(reply.body))))
                if reply.close:
                    headers.append(("Connection", "close"))
                    self.close_connection = True
                self.send_response(reply.status)
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    body = reply.body
                    self.wfile.write(body[: len(body) // 2] if reply.cut else body)
                if reply.cut:  # half the body, then the connection goes
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)
            except (ConnectionError, TimeoutError, OSError):
                self.close_connection = True  # the client hung up: nothing to answer
            finally:
                if not released:
                    with stats.lock:
                        stats.in_flight -= 1

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

    return Handler
