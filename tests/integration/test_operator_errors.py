"""Operator mistakes through a real Celery worker: an unreadable token file or Docker config
fails the job as `auth` with a detail naming the file and the problem, and once the operator
fixes the file the next job succeeds without a restart."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.demo_stack.pushgate import ROOT
from tests.support.accounts import SA_TOKEN
from tests.support.images import ImageBuilder
from tests.support.pushgate import Service, launch, redis_db
from tests.support.services import RedisServer, Registry


@pytest.fixture(scope="module")
def bare_service(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    vendor_registry: Registry,
) -> Iterator[Service]:
    """The API alone: each test starts the worker it needs."""
    svc = launch(
        tmp_path_factory.mktemp("operator"),
        redis_db(redis_server),
        source_registry.host,
        vendor_registry.host,
        workers=0,
    )
    yield svc
    svc.stop()


def restart_worker(svc: Service, name: str, **env: str) -> None:
    """Stop the running workers and start one with `env` added to the worker environment."""
    for worker in svc.workers:
        worker.stop()
    svc.worker_extra = dict(env)
    svc.start_worker(name)


def test_unreadable_token_file_names_the_file(
    bare_service: Service,
    source_images: ImageBuilder,
    source_registry: Registry,
    tmp_path: Path,
    unique: str,
) -> None:
    token_file = tmp_path / "registry-token"
    restart_worker(
        bare_service,
        "token",
        PUSHGATE_REGISTRY_TOKEN="",
        PUSHGATE_REGISTRY_TOKEN_FILE=str(token_file),
    )
    source_images.image(f"acme/{unique}", "1", [1024])
    source = f"{source_registry.host}/acme/{unique}:1"
    job = bare_service.push(source=source, app_slug="myapp")
    assert job["status"] == "failed"
    assert job["error"]["type"] == "auth"
    assert job["error"]["detail"] == (
        f"cannot read PUSHGATE_REGISTRY_TOKEN_FILE file {token_file}: No such file or directory"
    )
    token_file.write_text(SA_TOKEN + "\n")  # the operator fixes it: no restart needed
    assert bare_service.push(source=source, app_slug="myapp")["status"] == "succeeded"
    assert "crashed" not in bare_service.logs() and SA_TOKEN not in bare_service.logs()


def test_broken_docker_config_names_the_file_and_the_problem(
    bare_service: Service,
    source_images: ImageBuilder,
    source_registry: Registry,
    tmp_path: Path,
    unique: str,
) -> None:
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir()
    config = config_dir / "config.json"
    config.write_text('{"auths": {')
    restart_worker(bare_service, "config", DOCKER_CONFIG=str(config_dir))
    source_images.image(f"acme/{unique}", "1", [1024])
    source = f"{source_registry.host}/acme/{unique}:1"

    job = bare_service.push(source=source, app_slug="myapp")
    assert job["status"] == "failed" and job["error"]["type"] == "auth", job
    assert job["error"]["detail"].startswith(f"Docker config {config} is not valid JSON: ")

    config.unlink()
    config.mkdir()  # unreadable as a file
    job = bare_service.push(source=source, app_slug="myapp")
    assert job["status"] == "failed" and job["error"]["type"] == "auth", job
    assert job["error"]["detail"] == f"cannot read Docker config {config}: Is a directory"

    config.rmdir()
    config.write_text(json.dumps({"auths": {}}))
    assert bare_service.push(source=source, app_slug="myapp")["status"] == "succeeded"
    assert "crashed" not in bare_service.logs()


def test_a_worker_with_a_bad_file_stops_at_start_naming_it(
    bare_service: Service, tmp_path: Path
) -> None:
    bad = tmp_path / "webhooks.yaml"
    bad.write_text("- {name: a, url: 'http://h/', events: 7}")
    env = {**bare_service.env, "PUSHGATE_WEBHOOKS_FILE": str(bad)}
    argv = [sys.executable, "-m", "celery", "-A", "worker", "worker", "--without-gossip"]
    ended = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ended.returncode != 0
    assert "pushgate worker cannot start" in ended.stderr and str(bad) in ended.stderr
    assert "events" in ended.stderr
