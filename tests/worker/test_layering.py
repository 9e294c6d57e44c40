"""The dependency rules, checked by importing each package in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.stack import ROOT

# (package, top-level modules that it and every module under it must not load)
RULES = [
    (
        "worker.registry",
        ("celery", "redis", "docker", "flask", "marshmallow", "api", "prometheus_client"),
    ),
    ("worker.daemon", ("celery", "flask", "marshmallow", "api")),
    ("worker.jobs", ("celery", "flask", "marshmallow", "api")),
    ("worker.webhooks", ("celery", "flask", "marshmallow", "api")),
    ("worker.chatops", ("celery", "flask", "marshmallow", "api")),
    ("worker", ("celery", "redis", "docker", "flask", "marshmallow", "api")),  # the bare package
    ("worker.tasks", ("flask", "marshmallow", "api")),
]
# Imports the package and, for a package other than the top one, every module under it.
_PROBE = """
import importlib, json, pkgutil, sys
root = importlib.import_module(sys.argv[1])
if sys.argv[1] != "worker" and hasattr(root, "__path__"):
    for info in pkgutil.walk_packages(root.__path__, sys.argv[1] + "."):
        importlib.import_module(info.name)
print(json.dumps(sorted(sys.modules)))
"""


def modules_loaded_by(module: str) -> set[str]:
    """Every module in sys.modules after importing `module` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, module],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT)},
    )
    return set(json.loads(out.stdout))


def loaded_by(module: str) -> set[str]:
    """Top-level modules in sys.modules after importing `module` in a fresh interpreter."""
    return {name.split(".")[0] for name in modules_loaded_by(module)}


@pytest.mark.parametrize(("module", "forbidden"), RULES, ids=[m for m, _ in RULES])
def test_package_loads_no_forbidden_framework(module: str, forbidden: tuple[str, ...]) -> None:
    assert not loaded_by(module) & set(forbidden)


def test_the_probe_sees_what_a_module_loads() -> None:
    # Guards the rule test itself: the API side does load flask and the worker's job interface.
    loaded = loaded_by("api")
    assert {"flask", "marshmallow", "worker"} <= loaded


def test_the_engine_knows_no_policies_or_operator_files() -> None:
    # The apps and targets files are read by the jobs side; the copy engine is handed targets.
    loaded = modules_loaded_by("worker.registry")
    assert not loaded & {"worker.apps", "worker.apps_file"}
