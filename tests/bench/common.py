"""Benchmark plumbing: a vendor stand-in that can be wiped between runs, timers, child rusage."""

from __future__ import annotations

import os
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deploy.demo_stack.token_server import Account, TokenIssuer, TokenServer
from tests.support.services import Registry, free_port

BENCH_TOKEN = "bench-sa-token-0a1b2c3d4e5f"
API_KEY = "bench-api-key-99"
MiB = 1 << 20


class FreshVendor:
    """A token-auth registry on a fixed port whose storage is wiped by reset() (a cold target)."""

    def __init__(self, workdir: Path, slugs: list[str]) -> None:
        self.workdir = workdir
        self.issuer = TokenIssuer.create([Account("service_account", BENCH_TOKEN, slugs)])
        self.tokens = TokenServer(self.issuer).start()
        self.port = free_port()
        self.registry: Registry | None = None
        self.reset()

    @property
    def host(self) -> str:
        """host:port of the registry."""
        return f"127.0.0.1:{self.port}"

    def reset(self) -> None:
        """Restart the registry with empty storage."""
        if self.registry is not None:
            self.registry.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.registry = Registry(
            self.workdir,
            token_realm=self.tokens.realm,
            cert_pem=self.issuer.cert_pem,
            port=self.port,
        )

    def stop(self) -> None:
        """Stop the registry and its token server."""
        if self.registry is not None:
            self.registry.stop()
        self.tokens.stop()


@dataclass
class Series:
    """Timings of one contender."""

    name: str
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """The median time."""
        return statistics.median(self.seconds)


def timed(action: Callable[[], object]) -> float:
    """Seconds `action` took."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def skopeo_cache_files() -> list[Path]:
    """Where skopeo keeps its blob-info cache: the system one as root, else the user's."""
    if os.geteuid() == 0:
        folder = Path("/var/lib/containers/cache")
    else:
        data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local/share")
        folder = Path(data) / "containers/cache"
    return [folder / "blob-info-cache-v1.boltdb", folder / "blob-info-cache-v1.sqlite"]


SKOPEO_CACHE_NOTE = (
    "skopeo's blob-info cache ("
    + ", ".join(str(path) for path in skopeo_cache_files())
    + ") is removed before every skopeo run, so a cold skopeo copy tries no remembered locations"
)


def forget_skopeo_cache() -> None:
    """Remove skopeo's blob-info cache, so its next run starts as cold as ours."""
    for path in skopeo_cache_files():
        path.unlink(missing_ok=True)


def skopeo_copy(source: str, dest: str, extra: list[str] | None = None) -> list[str]:
    """The argv of a skopeo copy between two plain-HTTP registries with the bench token."""
    return [
        "skopeo",
        "copy",
        "-q",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        f"--dest-creds=bench:{BENCH_TOKEN}",
        *(extra or []),
        f"docker://{source}",
        f"docker://{dest}",
    ]


def ratio_line(name: str, ours: Series, theirs: Series) -> str:
    """A report line: both medians and their ratio."""
    return (
        f"{name:<40} {ours.median:7.3f}s vs {theirs.name} {theirs.median:7.3f}s "
        f"= {ours.median / theirs.median:5.2f}x"
    )
