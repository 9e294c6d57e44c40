"""The folder prometheus_client's multiprocess mode shares among one server's processes.

Must be settled before prometheus_client is first imported, so this module never imports it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir() -> Path:
    """Use PROMETHEUS_MULTIPROC_DIR (a fresh temporary folder when unset) and empty it of an
    earlier run's files; call in the parent process, before it forks or imports metrics."""
    folder = os.environ.get(MULTIPROC_ENV)
    if not folder:
        folder = os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="pushgate-metrics-")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    return path
