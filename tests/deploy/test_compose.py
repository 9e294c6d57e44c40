"""docker-compose.yml is a valid Compose file and runs the image `make image` builds."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.installs import ROOT
from tests.support.services import require_binary

PUSHGATE_SERVICES = {"api", "worker", "webhooks"}


def compose_config(tmp_path: Path) -> dict[str, Any]:
    """`docker-compose config`: the file as Compose reads it, with the required variables."""
    result = subprocess.run(
        [require_binary("docker-compose"), "-f", str(ROOT / "docker-compose.yml"), "config"],
        env={
            "PATH": "/usr/bin:/bin",
            "PUSHGATE_SOURCE_REGISTRIES": "ghcr.io",
            "HOME": str(tmp_path),
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "WARN" not in result.stderr, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def image_tags() -> list[str]:
    """The tags `make image` gives the image it builds."""
    out = subprocess.run(
        ["make", "-s", "print-image-tags"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def test_compose_runs_the_image_make_image_builds(tmp_path: Path) -> None:
    services = compose_config(tmp_path)["services"]
    assert set(services) >= PUSHGATE_SERVICES
    tags = image_tags()
    for name in PUSHGATE_SERVICES:
        assert services[name]["image"] in tags, name
        assert "build" not in services[name], name
        assert services[name]["read_only"] is True, name
