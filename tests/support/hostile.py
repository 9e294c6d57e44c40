"""A hostile registry: its WWW-Authenticate realm points at another loopback listener (the
thief, which records every request it gets and hands out a token), and it serves a manifest
of any size, streamed without a Content-Length."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


@dataclass
class Thief:
    """The listener the realm points at: what it was sent."""

    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class HostileRegistry:
    """The registry (`host`) and its thief (`thief_host`); manifests are `manifest_bytes`
    long; `realm_scheme` may make the realm plain http on a registry reached over https."""

    def __init__(self, manifest_bytes: int = 10 * 1024 * 1024, realm_path: str = "/token") -> None:
        self.thief = Thief()
        self.manifest_bytes = manifest_bytes
        self.sent_bytes = 0
        self._thief = _serve(self._thief_handler())
        self.thief_host = f"127.0.0.1:{self._thief.server_address[1]}"
        self.realm = f"http://{self.thief_host}{realm_path}"
        self._registry = _serve(self._registry_handler())
        self.host = f"127.0.0.1:{self._registry.server_address[1]}"

    def stop(self) -> None:
        """Stop both listeners."""
        for server in (self._registry, self._thief):
            server.shutdown()
            server.server_close()

    def _thief_handler(self) -> type[BaseHTTPRequestHandler]:
        thief = self.thief

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode(errors="replace") if length else ""
                with thief.lock:
                    thief.headers.append({**dict(self.headers), "body": body})
                    thief.paths.append(self.path)
                data = json.dumps({"token": "thief-issued-token", "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

        return Handler

    def _registry_handler(self) -> type[BaseHTTPRequestHandler]:
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                if not self.headers.get("Authorization", "").startswith("Bearer "):
                    self.send_response(401)
                    challenge = f'Bearer realm="{hostile.realm}",service="hostile"'
                    self.send_header("WWW-Authenticate", challenge)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", MANIFEST_TYPE)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                piece = b'{"padding": "' + b"x" * 65000 + b'"}\n'
                try:
                    while hostile.sent_bytes < hostile.manifest_bytes:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        hostile.sent_bytes += len(piece)
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client stopped reading: the point

        return Handler
