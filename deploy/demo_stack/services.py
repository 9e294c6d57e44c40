"""Real services on loopback for the demo, tests and benchmarks: Redis, distribution registries."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from deploy.demo_stack.token_server import ISSUER, SERVICE


class ServiceFailed(RuntimeError):
    """A service did not come up; the message says why, with the tail of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    log: Path | None = None,
    proc: subprocess.Popen[bytes] | None = None,
    interval: float = 0.02,
) -> None:
    """Poll `check` until it is true; raise ServiceFailed with the log tail on timeout or exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceFailed(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        try:
            if check():
                return
        except Exception:  # noqa: S110 - not ready yet: any error means try again
            pass
        time.sleep(interval)
    raise ServiceFailed(f"{what} not ready after {timeout}s:\n{_tail(log)}")


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-30:])


def require_binary(name: str) -> str:
    """The path of `name`, or ServiceFailed saying how to install it."""
    sbin = Path("/usr/sbin") / name
    path = shutil.which(name) or (str(sbin) if sbin.exists() else None)
    if path is None:
        raise ServiceFailed(f"{name} is not installed: run `make deps` (apt-get install {name})")
    return path


class Process:
    """A background process with its log file; stop() ends its whole process group."""

    def __init__(
        self, argv: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.argv, self.log = argv, log
        self._log_file = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Signal the process group and wait for it; SIGKILL if it lingers."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
            except ProcessLookupError:
                pass
        self._log_file.close()


class RedisServer(Process):
    """redis-server on a free loopback port; with `persistent`, an fsync-always AOF."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        persistent: bool = False,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.port = port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        aof = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if persistent
            else ["--appendonly", "no"]
        )
        super().__init__(
            [
                require_binary("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                *aof,
                "--dir",
                str(workdir),
                # One database per service a test session starts: see pushgate.redis_db.
                "--databases",
                "256",
                *extra,
            ],
            workdir / "redis.log",
        )
        wait_until(self._ping, 15, f"redis-server on port {self.port}", self.log, self.proc)

    @property
    def url(self) -> str:
        """The redis:// URL of this server, database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def _ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))  # up, with a password


_REGISTRY_CONFIG = """version: 0.1
log:
  level: warn
  accesslog:
    disabled: {quiet}
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: pushgate-test-secret
{auth}"""

_BEARER_AUTH = """auth:
  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    rootcertbundle: {cert}
"""

_HTPASSWD_AUTH = """auth:
  htpasswd:
    realm: pushgate-basic
    path: {path}
"""


def htpasswd_line(username: str, password: str) -> str:
    """An htpasswd entry with a bcrypt hash (cost 4: the registry checks it on every request)."""
    import bcrypt

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return f"{username}:{hashed}\n"


class Registry(Process):
    """A CNCF distribution registry (Debian docker-registry) on a free loopback port."""

    def __init__(
        self,
        workdir: Path,
        *,
        token_realm: str | None = None,
        cert_pem: bytes | None = None,
        port: int | None = None,
        basic: tuple[str, str] | None = None,
        access_log: bool = False,
    ) -> None:
        """`access_log`: log every request (method, path, status) to `log`."""
        self.port = port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        auth = ""
        if token_realm is not None:
            assert cert_pem is not None
            cert = workdir / "token-cert.pem"
            cert.write_bytes(cert_pem)
            auth = _BEARER_AUTH.format(realm=token_realm, service=SERVICE, issuer=ISSUER, cert=cert)
        elif basic is not None:  # Basic only, no token service (Harbor, Nexus, Artifactory)
            users = workdir / "htpasswd"
            users.write_text(htpasswd_line(*basic))
            auth = _HTPASSWD_AUTH.format(path=users)
        config = workdir / "config.yml"
        quiet = "false" if access_log else "true"
        settings = _REGISTRY_CONFIG.format(
            root=workdir / "data", port=self.port, auth=auth, quiet=quiet
        )
        config.write_text(settings)
        super().__init__(
            [require_binary("docker-registry"), "serve", str(config)], workdir / "registry.log"
        )
        wait_until(self._ready, 20, f"docker-registry on port {self.port}", self.log, self.proc)

    @property
    def host(self) -> str:
        """host:port of this registry, as references name it."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base URL of this registry."""
        return f"http://{self.host}"

    def _ready(self) -> bool:
        return httpx.get(f"{self.url}/v2/", timeout=1).status_code in (200, 401)

    def logged_requests(self, fragment: str) -> list[str]:
        """`METHOD path` of every request in the access log (`access_log=True`) whose path
        holds `fragment`."""
        lines = self.log.read_text(errors="replace").splitlines()
        found = [m.groups() for line in lines if (m := _ACCESS_RE.search(line))]
        return [f"{method} {path}" for method, path in found if fragment in path]


_ACCESS_RE = re.compile(r'"(GET|HEAD|PUT|PATCH|POST|DELETE) (\S+) HTTP/[0-9.]+"')
