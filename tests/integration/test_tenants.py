"""Two apps, two keys, one service on real registries: each reads, runs and writes only what
its entry in the apps file allows, and a refusal reads nothing."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.images import ImageBuilder
from tests.support.proxy import RegistryProxy
from tests.support.proxy_faults import Faults
from tests.support.pushgate import Service, launch, redis_db
from tests.support.services import RedisServer, Registry

KEYS = {"team-a": "tenant-key-a-81f3d2", "team-b": "tenant-key-b-4c09e7"}


@dataclass
class Recorder:
    """The proxy's plan hook: remembers every path the source registry was asked for."""

    paths: list[str] = field(default_factory=list)

    def __call__(self, method: str, path: str, nth: int) -> str | None:
        self.paths.append(path)
        return None


@dataclass
class Tenants:
    """The service, the recording proxy in front of the source, and the apps file."""

    service: Service
    source: RegistryProxy
    recorder: Recorder
    apps_file: Path

    def post(self, app: str, **body: Any) -> Any:
        headers = {"Authorization": f"Bearer {KEYS[app]}"}
        return self.service.call(
            "POST", "/v1/pushes", json={"app_slug": app, **body}, headers=headers
        )

    def wait(self, app: str, job_id: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {KEYS[app]}"}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job: dict[str, Any] = self.service.call(
                "GET", f"/v1/pushes/{job_id}?wait=5", headers=headers
            ).json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
        raise AssertionError(f"job {job_id} did not finish: {job}")


@pytest.fixture(scope="module")
def tenants(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    vendor_registry: Registry,
) -> Iterator[Tenants]:
    """pushgate with an apps file: team-a and team-b read their own repositories and daemon
    images; both push to `shared` (a repository each), only team-a to `a-only`."""
    workdir = tmp_path_factory.mktemp("tenants")
    recorder = Recorder()
    proxy = RegistryProxy(source_registry.port, faults=Faults(plan=recorder))
    (workdir / "targets.yaml").write_text(
        f"""
- name: shared
  registry: "{source_registry.host}"
  repository: "acme/{{target}}"
  insecure: true
- name: a-only
  registry: "{source_registry.host}"
  repository: "a-only/{{target}}"
  insecure: true
"""
    )
    apps_file = workdir / "apps.yaml"
    apps_file.write_text(
        f"""
- app: team-a
  sources: ["{proxy.host}/team-a/**"]
  daemon_images: ["team-a/*"]
  targets: [{{name: shared, repository: "tenants/team-a/{{target}}"}}, a-only]
  default_targets: [shared]
- app: team-b
  sources: ["{proxy.host}/team-b/**"]
  daemon_images: ["team-b/*"]
  targets: [{{name: shared, repository: "tenants/team-b/{{target}}"}}]
  default_targets: [shared]
"""
    )
    service = launch(
        workdir,
        redis_db(redis_server),
        proxy.host,
        vendor_registry.host,
        shared_env={
            "PUSHGATE_TARGETS_FILE": str(workdir / "targets.yaml"),
            "PUSHGATE_APPS_FILE": str(apps_file),
            "PUSHGATE_DAEMON_SOURCES": "1",
        },
        extra_keys=[
            {
                "name": f"key-{app}",
                "app_slugs": [app],
                "key_sha256": hashlib.sha256(key.encode()).hexdigest(),
            }
            for app, key in KEYS.items()
        ],
    )
    yield Tenants(service, proxy, recorder, apps_file)
    service.stop()
    proxy.stop()


def test_another_apps_source_daemon_image_and_target_are_refused_unread(
    tenants: Tenants, source_images: ImageBuilder, unique: str
) -> None:
    source_images.image(f"team-a/{unique}", "1.0", [4096])
    tenants.recorder.paths.clear()
    host = tenants.source.host
    refusals = {
        "sources": tenants.post("team-b", source=f"{host}/team-a/{unique}:1.0"),
        "daemon_images": tenants.post("team-b", source=f"docker-daemon:team-a/{unique}:1.0"),
        "targets": tenants.post("team-b", source=f"{host}/team-b/{unique}:1.0", targets=["a-only"]),
    }
    for rule, response in refusals.items():
        assert response.status_code == 403, response.text
        problem = response.json()
        assert problem["rule"] == rule and problem["file"] == str(tenants.apps_file)
    # The key's own rule comes first: team-b's key may not act for team-a at all.
    forged = tenants.service.call(
        "POST",
        "/v1/pushes",
        json={"app_slug": "team-a", "source": f"{host}/team-a/{unique}:1.0"},
        headers={"Authorization": f"Bearer {KEYS['team-b']}"},
    )
    assert forged.status_code == 403 and forged.json()["rule"] == "key.app_slugs"
    assert not [path for path in tenants.recorder.paths if "team-a" in path]


def test_both_apps_pushing_one_name_to_a_shared_target_get_their_own_repositories(
    tenants: Tenants, source_images: ImageBuilder, source_registry: Registry, unique: str
) -> None:
    digests = {}
    for app in KEYS:
        image = source_images.image(f"{app}/{unique}/worker", "1.0", [4096 + len(app)])
        digests[app] = image.digest
        response = tenants.post(app, source=f"{tenants.source.host}/{app}/{unique}/worker:1.0")
        assert response.status_code == 202, response.text
        job = tenants.wait(app, response.json()["id"])
        assert job["status"] == "succeeded", job
        assert job["targets"] == ["shared"]
    assert digests["team-a"] != digests["team-b"]
    for app, digest in digests.items():
        served = httpx.head(
            f"{source_registry.url}/v2/tenants/{app}/worker/manifests/1.0",
            headers={"Accept": image.media_type},
        )
        assert served.headers.get("Docker-Content-Digest") == digest
