"""A client generated from openapi.yaml by openapi-python-client pushes and polls the live
service: the document is good enough for generators, not only for people."""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.contract import LiveApi
from tests.support.images import ImageBuilder

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "pushgate_client"
DONE = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
def client_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client generated from the committed openapi.yaml, importable for this module."""
    folder = tmp_path_factory.mktemp("client")
    config = folder / "config.yaml"
    config.write_text(f"post_hooks: []\npackage_name_override: {PACKAGE}\n")
    generate = subprocess.run(
        [
            str(Path(sys.executable).with_name("openapi-python-client")),
            "generate",
            "--path",
            str(ROOT / "openapi.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(folder / PACKAGE),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert generate.returncode == 0, generate.stdout + generate.stderr
    assert "Warning" not in generate.stdout + generate.stderr, generate.stdout + generate.stderr
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_generated_client_pushes_and_polls(
    client_package: ModuleType, live_api: LiveApi, source_images: ImageBuilder, unique: str
) -> None:
    image = source_images.image(f"acme/{unique}", "1.0.1", [4096, 2048])
    create = _module("api.pushes.post_v1_pushes")
    get = _module("api.pushes.get_v1_pushes_job_id")
    models = _module("models")
    client = client_package.AuthenticatedClient(base_url=live_api.url, token=live_api.api_key)
    with client:
        body = models.PushCreate(
            source=f"{live_api.source.host}/acme/{unique}:1.0.1",
            app_slug="myapp",
            extra_tags=["latest"],
        )
        created = create.sync_detailed(client=client, body=body, idempotency_key=unique)
        assert created.status_code == 202, created.content
        job = created.parsed
        assert isinstance(job, models.Job) and job.status == models.JobStatus.QUEUED
        replay = create.sync(client=client, body=body, idempotency_key=unique)
        assert isinstance(replay, models.Job) and replay.id == job.id
        deadline = time.monotonic() + 120
        while job.status.value not in DONE and time.monotonic() < deadline:
            time.sleep(0.1)
            job = get.sync(client=client, job_id=job.id)
            assert isinstance(job, models.Job)
        assert job.status == models.JobStatus.SUCCEEDED, job.to_dict()
        assert job.digest == image.digest
        assert job.progress.blobs_done == job.progress.blobs_total == 3


def test_generated_client_reads_problems(client_package: ModuleType, live_api: LiveApi) -> None:
    get = _module("api.pushes.get_v1_pushes_job_id")
    create = _module("api.pushes.post_v1_pushes")
    models = _module("models")
    anonymous = client_package.Client(base_url=live_api.url)
    with anonymous:
        refused = get.sync_detailed(client=anonymous, job_id="0" * 32)
        assert refused.status_code == 401
        assert isinstance(refused.parsed, models.Problem) and refused.parsed.status == 401
    client = client_package.AuthenticatedClient(base_url=live_api.url, token=live_api.api_key)
    with client:
        missing = get.sync_detailed(client=client, job_id="0" * 32)
        assert missing.status_code == 404 and isinstance(missing.parsed, models.Problem)
        invalid = create.sync_detailed(
            client=client, body=models.PushCreate(source="ghcr.io/acme/w:1", app_slug="My_App")
        )
        assert invalid.status_code == 422 and isinstance(invalid.parsed, models.Problem)
        assert "app_slug" in invalid.parsed.to_dict()["errors"]
