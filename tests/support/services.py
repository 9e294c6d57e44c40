"""The Docker engine the daemon tests push from, beside the loopback services of the demo."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
from pathlib import Path

from deploy.demo_stack.services import (
    Process,
    RedisServer,
    Registry,
    ServiceFailed,
    free_port,
    require_binary,
    wait_until,
)

__all__ = [
    "DockerDaemon",
    "Process",
    "RedisServer",
    "Registry",
    "ServiceFailed",
    "free_port",
    "require_binary",
    "wait_until",
]


class DockerDaemon(Process):
    """A private dockerd (vfs storage, no networking of its own) on a unix socket; needs root."""

    def __init__(self, workdir: Path) -> None:
        if os.geteuid() != 0:
            raise ServiceFailed("dockerd needs root here: run the tests as root (CI does)")
        workdir.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="pgd-", dir="/tmp"))  # short: socket paths
        self.socket = self.root / "docker.sock"
        super().__init__(
            [
                require_binary("dockerd"),
                "--iptables=false",
                "--bridge=none",
                "--storage-driver=vfs",
                "--data-root",
                str(self.root / "data"),
                "--exec-root",
                str(self.root / "exec"),
                "--pidfile",
                str(self.root / "docker.pid"),
                "-H",
                f"unix://{self.socket}",
            ],
            workdir / "dockerd.log",
        )
        wait_until(self._ping, 60, "dockerd", self.log, self.proc, interval=0.2)

    @property
    def url(self) -> str:
        """The daemon's address, as DOCKER_HOST takes it."""
        return f"unix://{self.socket}"

    def _ping(self) -> bool:
        # A raw request, not the SDK: its unix transport leaks the socket of a failed connect.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            answer = b""
            while data := sock.recv(4096):
                answer += data
            return answer.startswith(b"HTTP/1.0 200") or answer.startswith(b"HTTP/1.1 200")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Stop dockerd and remove its storage."""
        super().stop(sig, timeout)
        shutil.rmtree(self.root, ignore_errors=True)
