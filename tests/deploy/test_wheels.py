"""The distributions as users install them: wheels in fresh venvs, outside the checkout.

The client (`pushgate`) must install alone, without the server's packages or dependencies;
the server (`pushgate-server`) must hold every module and data file and run from anywhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploy.demo_stack.pushgate import service_env, start_api, start_worker
from pushgate_cli import __version__
from tests.support.accounts import SA_TOKEN
from tests.support.images import ImageBuilder
from tests.support.installs import (
    ROOT,
    Venv,
    outside_env,
    push_and_wait,
    wheel_files,
    wheel_of,
)
from tests.support.pushgate import API_KEY, redis_db
from tests.support.services import Process, RedisServer, Registry

KiB = 1024
SERVER_ONLY = {"flask", "celery", "docker", "gunicorn", "redis", "kombu", "prometheus-client"}


def checkout_files(*packages: str) -> set[str]:
    """Every file of `packages` in the checkout (modules and data), as wheel paths."""
    return {
        path.relative_to(ROOT).as_posix()
        for package in packages
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.mark.parametrize(
    ("distribution", "packages"),
    [("pushgate_server", ("api", "worker")), ("pushgate", ("pushgate_cli",))],
)
def test_wheel_holds_every_module_and_data_file(
    wheels: Path, distribution: str, packages: tuple[str, ...]
) -> None:
    held = wheel_files(wheel_of(wheels, distribution))
    assert checkout_files(*packages) - held == set()
    assert {name.split("/")[0] for name in held} == set(packages)


def test_both_distributions_carry_the_one_version(wheels: Path) -> None:
    assert wheel_of(wheels, "pushgate").name.startswith(f"pushgate-{__version__}-")
    assert wheel_of(wheels, "pushgate_server").name.startswith(f"pushgate_server-{__version__}-")


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory, wheels: Path) -> Venv:
    return Venv.create(tmp_path_factory.mktemp("client") / "venv", wheels, "pushgate")


def test_client_installs_alone(client_venv: Venv) -> None:
    listed = json.loads(client_venv.run("-m", "pip", "list", "--format=json").stdout)
    names = {p["name"].lower() for p in listed}
    assert {"pushgate", "httpx", "click", "rich"} <= names
    assert names & SERVER_ONLY == set()
    top_level = {p.name for p in client_venv.site_packages().iterdir()}
    assert "pushgate_cli" in top_level
    assert top_level & {"api", "worker", "cli"} == set()


def test_client_command_answers_help_and_version(client_venv: Venv) -> None:
    pushgate = client_venv.script("pushgate")
    version = client_venv.run(pushgate, "--version", python=False).stdout
    assert version.strip() == f"pushgate, version {__version__}"
    usage = client_venv.run(pushgate, "--help", python=False).stdout
    assert "push" in usage and "completion" in usage
    located = client_venv.run("-c", "import pushgate_cli; print(pushgate_cli.__file__)").stdout
    assert located.startswith(str(client_venv.site_packages()))


@pytest.fixture(scope="module")
def server_venv(tmp_path_factory: pytest.TempPathFactory, wheels: Path) -> Venv:
    return Venv.create(tmp_path_factory.mktemp("server") / "venv", wheels, "pushgate-server")


@pytest.fixture
def installed_service(
    server_venv: Venv,
    tmp_path: Path,
    redis_server: RedisServer,
    source_registry: Registry,
    vendor_registry: Registry,
) -> Iterator[str]:
    """gunicorn and a Celery worker from the server venv, in its folder; yields the API URL."""
    keys = tmp_path / "keys.yaml"
    digest = hashlib.sha256(API_KEY.encode()).hexdigest()
    keys.write_text(json.dumps([{"name": "ci", "app_slugs": ["myapp"], "key_sha256": digest}]))
    env = service_env(redis_db(redis_server), source_registry.host, vendor_registry.host, keys)
    env = {**outside_env(), **{k: v for k, v in env.items() if k != "PYTHONPATH"}}
    where = {"python": server_venv.python, "cwd": server_venv.folder.parent}
    processes: list[Process] = []
    try:
        api, url = start_api(env, tmp_path, workers=1, threads=8, **where)
        processes.append(api)
        worker_env = {**env, "PUSHGATE_REGISTRY_TOKEN": SA_TOKEN}
        processes.append(start_worker(worker_env, tmp_path, "installed", **where))
        yield url
    finally:
        for process in processes:
            process.stop()


def test_server_runs_from_its_wheels_and_pushes(
    server_venv: Venv,
    installed_service: str,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    located = server_venv.run("-c", "import api, worker; print(api.__file__, worker.__file__)")
    assert all(p.startswith(str(server_venv.site_packages())) for p in located.stdout.split())
    assert httpx.get(installed_service + "/healthz").status_code == 200
    image = source_images.image(f"acme/{unique}", "1", [64 * KiB])
    job = push_and_wait(installed_service, f"{source_registry.host}/acme/{unique}:1")
    assert job["status"] == "succeeded", job
    assert job["digest"] == image.digest
