"""The observed service of the operations tests: JSON logs, a /metrics port per worker, keys
with limits and the audit right, and a source registry whose blob reads wait for a gate."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.support.accounts import SOURCE_TOKEN
from tests.support.proxy import RegistryProxy
from tests.support.pushgate import Service
from tests.support.services import Registry

OBSERVER_KEYS = {  # name -> (key, extra fields of its entry in the keys file)
    "limited": ("limited-key-7a1c3e", {"app_slugs": ["myapp"], "rate": 2}),
    "backlog": ("backlog-key-2b9d4f", {"app_slugs": ["myapp"], "max_active": 1}),
    "auditor": ("auditor-key-9c0e5a", {"app_slugs": ["*"], "audit": True}),
    "app-auditor": ("app-auditor-key-4d2f", {"app_slugs": ["myapp"], "audit": True}),
}


@dataclass
class Observed:
    """A JSON-logging service with metrics ports, more keys, and a held source registry."""

    service: Service
    held_source: RegistryProxy
    gate: threading.Event
    metrics_urls: list[str]


def key_headers(name: str) -> dict[str, str]:
    """Authorization for one of OBSERVER_KEYS."""
    return {"Authorization": f"Bearer {OBSERVER_KEYS[name][0]}"}


def docker_config(workdir: Path, private_source: Registry) -> Path:
    """A Docker config folder with the CI reader's credential for `private_source`."""
    folder = workdir / "docker-config"
    folder.mkdir()
    auth = base64.b64encode(f"ci-reader:{SOURCE_TOKEN}".encode()).decode()
    (folder / "config.json").write_text(
        json.dumps({"auths": {private_source.host: {"auth": auth}}})
    )
    return folder
