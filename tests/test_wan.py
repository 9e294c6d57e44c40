"""The WAN emulator really delays and caps: lower bounds from physics, never upper thresholds."""

from __future__ import annotations

import os
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.wan import DEFAULT_DELAY_MS, DEFAULT_RATE_MB_S, WanProcess, WanProxy

DELAY = DEFAULT_DELAY_MS / 1000
RATE = DEFAULT_RATE_MB_S * 1_000_000  # bytes per second
SIZE = 2_000_000


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module")
def echo_port() -> Iterator[int]:
    """A TCP echo server on a free loopback port."""
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(params=["thread", "process"])
def wan_port(request: pytest.FixtureRequest, echo_port: int, tmp_path: Path) -> Iterator[int]:
    """The emulator (default D and R) in front of the echo server, in a thread or a process."""
    if request.param == "thread":
        proxy = WanProxy(echo_port).start()
        yield proxy.port
        proxy.stop()
    else:
        process = WanProcess(echo_port, tmp_path / "wan.log")
        yield process.port
        process.stop()


def receive(sock: socket.socket, size: int) -> bytes:
    """Exactly `size` bytes from `sock` (fails if the peer closes first)."""
    parts, got = [], 0
    while got < size:
        data = sock.recv(min(65536, size - got))
        assert data, f"connection closed after {got} of {size} bytes"
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def test_a_round_trip_takes_at_least_twice_the_one_way_delay(wan_port: int) -> None:
    with socket.create_connection(("127.0.0.1", wan_port), timeout=30) as sock:
        for _ in range(3):
            start = time.monotonic()
            sock.sendall(b"x")
            assert receive(sock, 1) == b"x"
            assert time.monotonic() - start >= 2 * DELAY


def test_two_megabytes_echo_intact_no_faster_than_the_rate_cap(wan_port: int) -> None:
    payload = os.urandom(SIZE)
    with socket.create_connection(("127.0.0.1", wan_port), timeout=30) as sock:
        start = time.monotonic()
        # Send from a thread: the echo comes back while we still send, and must be read.
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        echoed = receive(sock, SIZE)
        elapsed = time.monotonic() - start
        sender.join()
    assert echoed == payload
    # The last byte crosses the capped link after all the others (SIZE / RATE = 0.08 s),
    # then travels there and back (2 * DELAY): nothing can arrive sooner.
    assert elapsed >= SIZE / RATE + 2 * DELAY


def test_a_slower_link_setting_is_honoured(echo_port: int) -> None:
    proxy = WanProxy(echo_port, delay_ms=50, rate_mb_s=4).start()
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as sock:
            start = time.monotonic()
            sender = threading.Thread(target=sock.sendall, args=(b"z" * 400_000,))
            sender.start()
            echoed = receive(sock, 400_000)
            elapsed = time.monotonic() - start
            sender.join()
    finally:
        proxy.stop()
    assert echoed == b"z" * 400_000
    assert elapsed >= 400_000 / 4_000_000 + 2 * 0.050
