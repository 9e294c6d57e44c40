"""A reverse proxy in front of a test registry that behaves like registries users trip over:
repositories that must exist first (ECR's NAME_UNKNOWN), immutable tags, a credential revoked
mid-way. It counts what it forwarded."""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.proxy import HOP_HEADERS
from tests.support.referrers_api import ReferrersApi

_PATH_RE = re.compile(r"^/v2/(?P<name>.+?)/(?P<kind>manifests|blobs|tags)/(?P<rest>.*)$")
Answer = tuple[int, dict[str, str], bytes]


def _error(status: int, code: str, message: str, **headers: str) -> Answer:
    body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
    return status, {"Content-Type": "application/json", **headers}, body


@dataclass
class Gate:
    """What the proxy refuses: repositories off `known` (None: all known), tags moved under
    `immutable`, and everything once `revoked` (set by `revoke_when` on a matching request).
    With `referrers`, it serves the OCI 1.1 referrers API the registry behind it lacks."""

    known: set[str] | None = None
    immutable: bool = False
    revoked: bool = False
    revoke_when: Callable[[str, str], bool] | None = None
    referrers: ReferrersApi | None = None
    tags: dict[tuple[str, str], str] = field(default_factory=dict)
    seen: list[tuple[str, str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, method: str, fragment: str) -> int:
        """How many requests of `method` with `fragment` in their path were answered."""
        with self.lock:
            return sum(1 for m, p, _ in self.seen if m == method and fragment in p)

    def refuse(self, method: str, path: str, body: bytes) -> Answer | None:
        """The answer the gate gives instead of the registry's, if any."""
        with self.lock:
            if self.revoke_when is not None and self.revoke_when(method, path):
                self.revoked, self.revoke_when = True, None
            if self.revoked:
                return _error(
                    401,
                    "UNAUTHORIZED",
                    "the credential was revoked",
                    **{"WWW-Authenticate": 'Basic realm="gate"'},
                )
        match = _PATH_RE.match(path.split("?", 1)[0])
        if match is None:
            return None
        name, kind, rest = match["name"], match["kind"], match["rest"]
        if self.known is not None and name not in self.known:
            return _error(
                404,
                "NAME_UNKNOWN",
                f"The repository with name '{name}' does not exist in the registry",
            )
        if self.immutable and method == "PUT" and kind == "manifests":
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            held = self.tags.get((name, rest))
            if held is not None and held != digest and not rest.startswith("sha256:"):
                return _error(
                    400,
                    "TAG_INVALID",
                    f"The image tag '{rest}' already exists in the '{name}' repository and "
                    "cannot be overwritten because the repository is immutable.",
                )
        return None

    def note(self, method: str, path: str, status: int, body: bytes) -> None:
        """Remember an answered request (and the digest a tag now points to)."""
        match = _PATH_RE.match(path.split("?", 1)[0])
        with self.lock:
            self.seen.append((method, path, status))
            if match and method == "PUT" and match["kind"] == "manifests" and status == 201:
                digest = "sha256:" + hashlib.sha256(body).hexdigest()
                self.tags[(match["name"], match["rest"])] = digest


class GateProxy:
    """The gate on a loopback port, forwarding what it lets through to `upstream_port`."""

    def __init__(self, upstream_port: int, gate: Gate | None = None) -> None:
        self.upstream_port = upstream_port
        self.gate = gate or Gate()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
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


def _handler(proxy: GateProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(parts)

        def _forward(self, body: bytes) -> Answer:
            upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
            headers["Content-Length"] = str(len(body))
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            upstream.close()
            kept = {
                k: v
                for k, v in response.getheaders()
                if k.lower() not in HOP_HEADERS and k.lower() != "content-length"
            }
            kept["Content-Length"] = response.getheader("Content-Length") or str(len(data))
            return response.status, kept, data

        def _serve(self) -> None:
            body = self._body()
            gate, referrers = proxy.gate, proxy.gate.referrers
            answer = (
                gate.refuse(self.command, self.path, body)
                or (referrers and referrers.answer(self.command, self.path))
                or self._forward(body)
            )
            status, headers, data = answer
            gate.note(self.command, self.path, status, body)
            if referrers is not None:
                headers.update(referrers.written(self.command, self.path, status, body))
            self.send_response(status)
            headers.setdefault("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

    return Handler
