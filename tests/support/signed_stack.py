"""Targets for pushes of signed images: a Basic-only registry that logs every request, and a
proxy serving the referrers API; a job pushed through the runner in this process."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.accounts import BASIC_PASSWORD, BASIC_USER
from tests.support.images import OCI_INDEX
from tests.support.proxy import RegistryProxy
from tests.support.proxy_rules import ReferrersApi
from tests.support.services import Registry
from worker.jobs.model import Job
from worker.jobs.runner import JobRunner
from worker.jobs.submit import PushRequest, plan_job, submit
from worker.settings import Settings

ACCEPT = f"{OCI_INDEX}, application/vnd.oci.image.manifest.v1+json"


@dataclass
class Targets:
    """The registries behind the test's targets: `basic` (Basic only, access log on) and
    `refapi` (a proxy serving the referrers API in front of another Basic registry)."""

    basic: Registry
    refapi: RegistryProxy
    api: ReferrersApi
    settings: Settings

    @classmethod
    def start(
        cls, settings: Settings, folder: Path, logged: Registry, behind_proxy: Registry
    ) -> Targets:
        """A targets file in `folder` naming `basic` and `refapi`; settings that use it."""
        api = ReferrersApi()
        proxy = RegistryProxy(behind_proxy.port, api)
        (folder / "pw").write_text(BASIC_PASSWORD)
        (folder / "targets.yaml").write_text(
            f"- {{name: basic, registry: '{logged.host}', username: {BASIC_USER}, "
            "password_file: pw, insecure: true}\n"
            f"- {{name: refapi, registry: '{proxy.host}', username: {BASIC_USER}, "
            "password_file: pw, insecure: true}\n"
        )
        changed = dataclasses.replace(
            settings,
            targets_file=folder / "targets.yaml",
            insecure_registries=settings.insecure_registries | {logged.host, proxy.host},
        )
        return cls(logged, proxy, api, changed)

    def get(self, repository: str, reference: str) -> bytes:
        """A manifest's bytes as the basic registry serves them (b"" when it has none)."""
        response = httpx.get(
            f"{self.basic.url}/v2/{repository}/manifests/{reference}",
            auth=(BASIC_USER, BASIC_PASSWORD),
            headers={"Accept": ACCEPT},
        )
        return response.content if response.status_code == 200 else b""

    def writes(self, repository: str) -> list[str]:
        """Every PUT, PATCH and POST the basic registry logged for `repository`."""
        logged = self.basic.logged_requests(f"/v2/{repository}/")
        return [r for r in logged if r.split()[0] in ("PUT", "PATCH", "POST")]


def push(runner: JobRunner, source: str, targets: list[str], **asked: object) -> Job:
    """Queue a push of `source` for myapp and run it in this process."""
    request = PushRequest.of({"source": source, "app_slug": "myapp", "targets": targets, **asked})
    job = plan_job(request, runner.settings, owner="test")
    submit(runner.store, job, lambda _: None)
    done = runner.run(job.id)
    assert done is not None
    return done
