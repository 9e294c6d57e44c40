"""A real HTTP receiver for webhooks: answers from a script, records every request raw."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook


@dataclass
class Answer:
    """How to answer one request: a status, headers, and optionally hold until released."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None


@dataclass
class Received:
    """One request as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | None = None
    at: float = field(default_factory=time.monotonic)

    def verify(self, secret: str) -> Any:
        """The body, parsed, if the Standard Webhooks signature verifies with `secret`."""
        return Webhook(secret).verify(self.body, self.headers)


class WebhookReceiver:
    """A threaded HTTP server on a free loopback port; answers[i] answers the i-th request,
    the last one every request after."""

    def __init__(self, answers: list[Answer] | None = None) -> None:
        self.answers = answers or [Answer()]
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                got = Received(self.path, dict(self.headers.items()), self.rfile.read(length))
                with receiver._lock:
                    index = len(receiver.requests)
                    receiver.requests.append(got)
                answer = receiver.answers[min(index, len(receiver.answers) - 1)]
                if answer.hold is not None:
                    answer.hold.wait(120)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    got.answered = answer.status
                except OSError:
                    pass  # the sender gave up (timeout) or died

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        """The URL of `path` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, check: Callable[[list[Received]], bool], timeout: float = 120) -> None:
        """Wait until `check(requests)` holds; AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if check(list(self.requests)):
                    return
            time.sleep(0.02)
        raise AssertionError(f"receiver: condition not met in {timeout}s; got {self.requests}")

    def stop(self) -> None:
        """Release held answers and stop serving."""
        for answer in self.answers:
            if answer.hold is not None:
                answer.hold.set()
        self.server.shutdown()
        self.server.server_close()
