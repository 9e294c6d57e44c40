"""The container image in tests: a Debian base made by mmdebstrap from this machine's apt
sources (Debian's own python3), imported into the test dockerd, and `make image` on top."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.services import ServiceFailed, require_binary

ROOT = Path(__file__).resolve().parents[2]
BASE_PACKAGES = "python3,python3-venv"  # what deploy/Dockerfile needs of its base
APT_SOURCES = Path("/etc/apt")


def host_suite() -> str:
    """This machine's Debian release (bookworm, ...): its python3 is the one the wheels fit."""
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip('"')
    raise ServiceFailed("/etc/os-release names no VERSION_CODENAME: not a Debian machine?")


def apt_source_files() -> list[Path]:
    """The machine's configured apt sources (one-line .list and deb822 .sources files)."""
    main = APT_SOURCES / "sources.list"
    files = [main] if main.exists() and _has_entries(main) else []
    folder = APT_SOURCES / "sources.list.d"
    files += sorted(p for p in folder.glob("*") if p.suffix in (".list", ".sources"))
    if not files:
        raise ServiceFailed("no apt sources configured in /etc/apt: mmdebstrap needs a mirror")
    return files


def _has_entries(path: Path) -> bool:
    lines = (line.strip() for line in path.read_text().splitlines())
    return any(line and not line.startswith("#") for line in lines)


def _run(argv: list[str], what: str, timeout: float, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
    )
    if result.returncode != 0:
        raise ServiceFailed(f"{what} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def debian_base_tar(folder: Path) -> Path:
    """A minimal root file system (minbase + python3 + venv) as a tar, from the apt mirrors."""
    tar = folder / f"debian-{host_suite()}.tar"
    argv = [
        require_binary("mmdebstrap"),
        "--variant=minbase",
        f"--include={BASE_PACKAGES}",
        "--quiet",
        host_suite(),
        str(tar),
        *map(str, apt_source_files()),
    ]
    _run(argv, "mmdebstrap", timeout=900)
    return tar


def docker_env(daemon_url: str) -> dict[str, str]:
    """This environment, with the docker CLI pointed at the test daemon."""
    return {**os.environ, "DOCKER_HOST": daemon_url}


def import_base(daemon_url: str, tar: Path, tag: str) -> str:
    """`docker import` the root file system tar as image `tag`."""
    _run(
        [require_binary("docker"), "import", str(tar), tag],
        "docker import",
        600,
        docker_env(daemon_url),
    )
    return tag


def make_image(daemon_url: str, base: str) -> list[str]:
    """`make image BASE=base` against the test daemon; returns the tags it built."""
    env = docker_env(daemon_url)
    _run(["make", "-s", "image", f"BASE={base}", f"PY={sys.executable}"], "make image", 1800, env)
    return _run(["make", "-s", "print-image-tags"], "make print-image-tags", 60).split()
