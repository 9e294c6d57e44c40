"""pushgate installed as users install it: wheels built by `make wheels`, put into fresh
virtual environments outside the checkout (the checkout nowhere on sys.path), and a push
through the HTTP API of such an installation."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.pushgate import API_KEY
from tests.support.services import ServiceFailed

ROOT = Path(__file__).resolve().parents[2]
WHEELS = ROOT / "build" / "wheels"


def build_wheels() -> Path:
    """`make wheels`: both distributions and every dependency, in build/wheels."""
    result = subprocess.run(
        ["make", "-s", "wheels", f"PY={sys.executable}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise ServiceFailed(f"make wheels failed:\n{result.stdout}\n{result.stderr}")
    return WHEELS


def wheel_of(wheels: Path, distribution: str) -> Path:
    """The one wheel of `distribution` (its file-name form: pushgate, pushgate_server)."""
    (found,) = wheels.glob(f"{distribution}-*.whl")
    return found


def wheel_files(wheel: Path) -> set[str]:
    """The paths a wheel holds, outside its .dist-info."""
    with zipfile.ZipFile(wheel) as archive:
        return {n for n in archive.namelist() if ".dist-info/" not in n}


def outside_env() -> dict[str, str]:
    """This environment without what would put the checkout on sys.path or pick a venv."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PIP_")}


@dataclass(frozen=True)
class Venv:
    """A virtual environment made from the wheels; `folder` is outside the checkout."""

    folder: Path

    @classmethod
    def create(cls, folder: Path, wheels: Path, *requirements: str) -> Venv:
        """A fresh venv (Python's own `venv`) with `requirements` installed from `wheels` only."""
        venv = cls(folder)
        venv.run(sys.executable, "-m", "venv", str(folder), python=False)
        venv.run(
            "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels), *requirements
        )
        return venv

    @property
    def python(self) -> str:
        """The venv's interpreter."""
        return str(self.folder / "bin" / "python")

    def script(self, name: str) -> str:
        """A console script the venv's packages installed."""
        return str(self.folder / "bin" / name)

    def run(
        self, *argv: str, python: bool = True, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run argv (after the venv's python unless python=False) in the venv's parent folder."""
        command = [self.python, *argv] if python else list(argv)
        result = subprocess.run(
            command,
            cwd=self.folder.parent,
            env=outside_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{command} exited {result.returncode}:\n{result.stderr}")
        return result

    def site_packages(self) -> Path:
        """The venv's site-packages folder."""
        (folder,) = self.folder.glob("lib/python3*/site-packages")
        return folder

    def size(self) -> int:
        """Bytes the venv holds on disk."""
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())


def push_and_wait(url: str, source: str, timeout: float = 120) -> dict[str, Any]:
    """POST a push of `source` for app myapp with the tests' API key; poll the job to its end."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        response = http.post("/v1/pushes", json={"source": source, "app_slug": "myapp"})
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job: dict[str, Any] = http.get(f"/v1/pushes/{job_id}").json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
            time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not end in {timeout}s: {job}")
