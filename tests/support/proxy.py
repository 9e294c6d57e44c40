"""A reverse proxy in front of a test registry: the vendor's attestation 400, injected faults."""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ATTESTATION_ARTIFACT = "application/vnd.docker.attestation.manifest.v1+json"
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


def carries_attestation(body: bytes) -> bool:
    """True when a manifest or index body is, or lists, a BuildKit attestation."""
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    if doc.get("artifactType") == ATTESTATION_ARTIFACT:
        return True
    if any(
        layer.get("mediaType") == "application/vnd.in-toto+json"
        for layer in doc.get("layers") or []
    ):
        return True
    for entry in doc.get("manifests") or []:
        annotations = entry.get("annotations") or {}
        if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            return True
        if entry.get("artifactType") == ATTESTATION_ARTIFACT:
            return True
    return False


@dataclass
class Faults:
    """What the proxy does wrong, per request, at these rates (0 to 1)."""

    error_503: float = 0.0
    error_429: float = 0.0
    retry_after: str = "1"
    drop: float = 0.0
    stall: float = 0.0
    stall_seconds: float = 3.0
    seed: int = 7
    only_methods: tuple[str, ...] = ()
    bandwidth: float = 0.0  # bytes per second for request bodies (0: unlimited)
    # Decides the fault of a request itself (method, path, nth such request) before the rates.
    plan: Callable[[str, str, int], str | None] | None = None


def one_in_four(seed: int) -> Faults:
    """One request in four fails: 503, 429 (non-JSON), dropped mid-body, or stalled 4 s."""
    rates = dict(error_503=0.08, error_429=0.05, drop=0.08, stall=0.04)
    return Faults(**rates, retry_after="1", stall_seconds=4.0, seed=seed)


@dataclass(frozen=True)
class Exchange:
    """One request the proxy forwarded and the upstream's answer."""

    method: str
    path: str
    status: int
    request_headers: dict[str, str]
    response_headers: dict[str, str]


@dataclass
class ProxyStats:
    """What the proxy saw and did."""

    requests: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    rejected_attestations: int = 0
    forwarded: list[Exchange] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    seen: Counter[tuple[str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def statuses(self, method: str, fragment: str) -> list[int]:
        """Upstream statuses of forwarded requests whose path contains `fragment`."""
        return [e.status for e in self.exchanges(method, fragment)]

    def exchanges(self, method: str, fragment: str) -> list[Exchange]:
        """Forwarded exchanges of `method` whose path contains `fragment`."""
        with self.lock:
            return [e for e in self.forwarded if e.method == method and fragment in e.path]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients that hang up mid-request are the point of these tests


class RegistryProxy:
    """Forwards to `upstream` (host, port); can refuse attestations and inject faults."""

    def __init__(
        self, upstream_port: int, *, reject_attestations: bool = False, faults: Faults | None = None
    ) -> None:
        self.upstream_port = upstream_port
        self.reject_attestations = reject_attestations
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
        f = self.faults
        with self.stats.lock:
            self.stats.requests += 1
            kind = (method, path.split("?")[0].rsplit("/", 1)[0])
            self.stats.seen[kind] += 1
            nth = self.stats.seen[kind]
        if f.plan is not None:
            planned = f.plan(method, path, nth)
            if planned:
                with self.stats.lock:
                    self.stats.injected[planned] += 1
                return planned
        if f.only_methods and method not in f.only_methods:
            return None
        with self.stats.lock:
            roll = self.random.random()
        for name, rate in (
            ("503", f.error_503),
            ("429", f.error_429),
            ("drop", f.drop),
            ("stall", f.stall),
        ):
            if roll < rate:
                with self.stats.lock:
                    self.stats.injected[name] += 1
                return name
            roll -= rate
        return None


def _make_handler(proxy: RegistryProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                parts = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(parts)
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            if not proxy.faults.bandwidth:
                return self.rfile.read(length)
            parts, started = [], time.monotonic()
            while length > 0:  # throttled: a slow link, so tests can act mid-blob
                part = self.rfile.read(min(length, 256 * 1024))
                if not part:
                    break
                parts.append(part)
                length -= len(part)
                done = sum(map(len, parts))
                ahead = done / proxy.faults.bandwidth - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            return b"".join(parts)

        def _handle(self) -> tuple[int, list[tuple[str, str]], bytes, bool] | None:
            """Work out the answer: (status, headers, body, cut mid-body), None to hang up."""
            body = self._read_body()
            fault = proxy.pick_fault(self.command, self.path)
            if fault == "503":
                return 503, [("Content-Type", "text/plain")], b"upstream unavailable", False
            if fault == "429":
                return (
                    429,
                    [("Content-Type", "text/html"), ("Retry-After", proxy.faults.retry_after)],
                    b"<html>slow</html>",
                    False,
                )
            if (
                proxy.reject_attestations
                and self.command == "PUT"
                and "/manifests/" in self.path
                and carries_attestation(body)
            ):
                with proxy.stats.lock:
                    proxy.stats.rejected_attestations += 1
                err = {
                    "errors": [
                        {
                            "code": "MANIFEST_INVALID",
                            "message": "manifest invalid",
                            "detail": "provenance attestations are not supported",
                        }
                    ]
                }
                return 400, [("Content-Type", "application/json")], json.dumps(err).encode(), False
            if fault == "drop" and body:
                return None  # the upload is lost: no answer at all
            upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
            headers["Content-Length"] = str(len(body))
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            upstream.close()
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
            return response.status, kept, data, fault == "drop"

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
                status, headers, data, cut = reply
                if not any(name.lower() == "content-length" for name, _ in headers):
                    headers.append(("Content-Length", str(len(data))))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data[: len(data) // 2] if cut else data)
                if cut:  # half the body, then the connection goes
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)
            except (ConnectionError, TimeoutError):
                self.close_connection = True  # the client hung up: nothing to answer
            finally:
                if not released:
                    with stats.lock:
                        stats.in_flight -= 1

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

    return Handler
