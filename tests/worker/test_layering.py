"""The dependency rules, checked by importing each package in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from deploy.demo_stack.pushgate import ROOT

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


# -- the worker's own directions, seen by importing: who imported whom --

# Imports every module of a package with __import__ watched; prints (importer, imported) pairs.
_EDGES_PROBE = """
import builtins, importlib, json, pkgutil, sys
edges = set()
real_import = builtins.__import__
def watched(name, globals=None, locals=None, fromlist=(), level=0):
    module = real_import(name, globals, locals, fromlist, level)
    importer = (globals or {}).get("__name__", "")
    if level == 0 and importer:
        edges.add((importer, name))
        for item in fromlist or ():
            if f"{name}.{item}" in sys.modules:
                edges.add((importer, f"{name}.{item}"))
    return module
builtins.__import__ = watched
root = importlib.import_module(sys.argv[1])
for info in pkgutil.walk_packages(root.__path__, sys.argv[1] + "."):
    importlib.import_module(info.name)
print(json.dumps(sorted(edges)))
"""
# The worker modules the API may import itself: the facade (jobs, tasks, webhooks, chat-ops,
# start-up, logs and metrics, as the API uses them), settings, errors, and the rules its
# schemas share with the worker. Anything else the API needs goes into the facade.
API_MAY_IMPORT = {
    "worker.errors",
    "worker.facade",
    "worker.schema_rules",
    "worker.settings",
}
# (importers, modules they must not import, unless listed as the allowed interface)
DIRECTIONS = [
    (
        "worker.registry",
        ("worker.jobs", "worker.webhooks", "worker.targets_file", "worker.prometheus_metrics"),
        (),
    ),
    # The jobs side tells of job events through the runner's EventSink, a callable the worker
    # context fills with the webhook dispatcher: no import of worker.webhooks at all.
    ("worker.jobs", ("worker.webhooks",), ()),
    # Redis has one owner: outside worker/jobs nothing names a key or holds the connection;
    # the store hands out the objects that do (webhook deliveries, the chat replay guard).
    ("worker.webhooks", ("worker.jobs.connection", "worker.jobs.keys"), ()),
    ("worker.chatops", ("worker.jobs.connection", "worker.jobs.keys"), ()),
    ("worker.daemon", ("worker.jobs.connection", "worker.jobs.keys"), ()),
]


def import_edges(package: str) -> set[tuple[str, str]]:
    """(importer, imported) for every import the modules of `package` run when imported."""
    out = subprocess.run(
        [sys.executable, "-c", _EDGES_PROBE, package],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT)},
    )
    return {(a, b) for a, b in json.loads(out.stdout)}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@pytest.mark.parametrize(
    ("importers", "forbidden", "allowed"), DIRECTIONS, ids=[d[0] for d in DIRECTIONS]
)
def test_the_worker_imports_run_one_way(
    importers: str, forbidden: tuple[str, ...], allowed: tuple[str, ...]
) -> None:
    wrong = sorted(
        (a, b)
        for a, b in import_edges("worker")
        if _under(a, importers)
        and any(_under(b, f) for f in forbidden)
        and not any(_under(b, ok) for ok in allowed)
    )
    assert wrong == []


def test_the_api_imports_the_worker_only_through_its_allow_list() -> None:
    edges = import_edges("api")
    used = {b for a, b in edges if _under(a, "api") and _under(b, "worker")}
    assert used, "the probe saw no import of the worker"
    assert sorted(used - API_MAY_IMPORT) == []
