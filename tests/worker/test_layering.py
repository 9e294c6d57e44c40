"""The worker never depends on the API side: no api, flask or marshmallow imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

WORKER = Path(__file__).resolve().parents[2] / "worker"
FORBIDDEN = ("api", "flask", "flask_smorest", "marshmallow", "webargs")


@pytest.mark.parametrize("module", sorted(WORKER.glob("*.py")), ids=lambda p: p.name)
def test_worker_module_imports_nothing_from_the_api_side(module: Path) -> None:
    imported = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & set(FORBIDDEN)


def test_engine_imports_no_celery() -> None:
    for name in ("engine.py", "blobs.py", "chunked.py", "registry_client.py", "runner.py"):
        assert "celery" not in (WORKER / name).read_text()
