"""Benchmark plumbing: a vendor stand-in that can be wiped between runs, timers, child rusage."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.services import Registry, free_port
from tests.support.token_server import Account, TokenIssuer, TokenServer

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


def _peak_rss_kib(pid: int) -> int:
    """VmHWM of a live process: the peak RSS of its current program (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_measured(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Run a command; returns (seconds, peak RSS in MiB of its own program).

    The peak is read from /proc while it runs: getrusage would also count the memory of
    this (large) parent process, which Linux carries over into the child's maxrss at exec.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _peak_rss_kib(proc.pid))
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {err[-2000:]}")
    return elapsed, peak // 1024


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


def run_skopeo(argv: list[str]) -> tuple[float, int]:
    """run_measured for a skopeo command, after removing its blob-info cache."""
    forget_skopeo_cache()
    return run_measured(argv)


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


def api_keys_file(folder: Path) -> Path:
    """An API-keys file in `folder` holding the hash of API_KEY, for the app slug `bench`."""
    digest = hashlib.sha256(API_KEY.encode()).hexdigest()
    path = folder / "keys.json"
    path.write_text(json.dumps([{"name": "bench", "app_slugs": ["bench"], "key_sha256": digest}]))
    return path


def push_and_wait(http: httpx.Client, url: str, body: dict[str, object]) -> dict[str, object]:
    """POST a push and poll it to the end; returns the final job."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    job = http.post(f"{url}/v1/pushes", json=body, headers=headers).json()
    while job["status"] in ("queued", "running"):
        time.sleep(0.02)
        job = http.get(f"{url}/v1/pushes/{job['id']}", headers=headers).json()
    if job["status"] != "succeeded":
        raise RuntimeError(f"bench push failed: {job}")
    return job
