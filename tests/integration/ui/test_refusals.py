"""Refusals on the page, in a real browser against the live service: the app's policy (the
apps file) refusing a source shows the rule from the plan and nothing can be pushed; a 403 on
submitting (the key narrowed after the plan allowed it) shows the problem's detail and rule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import OBSERVER, sign_in
from tests.support.images import ImageBuilder
from tests.support.pushgate import Service, launch, redis_db
from tests.support.services import RedisServer, Registry

WAIT_MS = 120_000


@pytest.fixture(scope="module")
def policed_service(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    vendor_registry: Registry,
) -> Iterator[Service]:
    """gunicorn + a worker with an apps file: `myapp` may read only acme/** of the source."""
    workdir = tmp_path_factory.mktemp("ui-policies")
    apps = workdir / "apps.yaml"
    apps.write_text(
        f'- {{app: myapp, sources: ["{source_registry.host}/acme/**"], targets: [replicated]}}\n'
    )
    svc = launch(
        workdir,
        redis_db(redis_server),
        source_registry.host,
        vendor_registry.host,
        shared_env={"PUSHGATE_APPS_FILE": str(apps)},
    )
    yield svc
    svc.stop()


@pytest.fixture
def policed_page(browser: Browser, policed_service: Service) -> Iterator[Page]:
    """A fresh tab at the policed service; fails on a script error or a CSP violation."""
    context = browser.new_context(base_url=policed_service.url)
    context.add_init_script(OBSERVER)
    tab = context.new_page()
    errors: list[Any] = []
    tab.on("pageerror", lambda error: errors.append(error))
    yield tab
    violations = tab.evaluate("window.__violations")
    context.close()
    assert errors == [] and violations == [], (errors, violations)


def _jobs(service: Service) -> list[dict[str, Any]]:
    answer = service.call("GET", "/v1/pushes", params={"app_slug": "myapp"})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_the_apps_policy_refusing_a_source_shows_its_rule_and_pushes_nothing(
    policed_page: Page, policed_service: Service, source_registry: Registry, unique: str
) -> None:
    page = policed_page
    sign_in(page)
    page.get_by_role("link", name="New push").click()
    form = page.get_by_role("region", name="New push")
    form.get_by_label("App").fill("myapp")
    source = form.get_by_label("Source")
    source.press_sequentially(f"{source_registry.host}/other/{unique}:1")
    expect(form.get_by_role("status")).to_have_text("A rule refuses this push.", timeout=WAIT_MS)
    refusal = page.locator("#plan-result .refusals li")
    expect(refusal).to_have_count(1)
    expect(refusal).to_contain_text("sources: ")
    expect(refusal).to_contain_text(str(policed_service.workdir / "apps.yaml"))
    expect(form.get_by_role("button", name="Push", exact=True)).to_be_disabled()
    source.press("Enter")  # submitting the form anyway sends nothing
    assert not [job for job in _jobs(policed_service) if unique in job["source"]]


def test_a_403_on_submitting_shows_the_problem_and_its_rule(
    policed_page: Page,
    policed_service: Service,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    source_images.image(f"acme/{unique}", "1", [4 * 1024])
    page = policed_page
    sign_in(page)
    page.get_by_role("link", name="New push").click()
    form = page.get_by_role("region", name="New push")
    form.get_by_label("App").fill("myapp")
    form.get_by_label("Source").press_sequentially(f"{source_registry.host}/acme/{unique}:1")
    status = form.get_by_role("status")
    expect(status).to_contain_text("Allowed: ", timeout=WAIT_MS)
    keys = policed_service.workdir / "keys.yaml"
    before = keys.read_text()
    try:  # the operator narrows the key after the plan: the push itself is refused
        _narrow(keys, targets=["elsewhere"])
        form.get_by_role("button", name="Push", exact=True).click()
        expect(status).to_contain_text(
            f"may not push to target replicated [rule key.targets in {keys}] (HTTP 403)",
            timeout=WAIT_MS,
        )
    finally:
        keys.write_text(before)
    assert "#/jobs/" not in page.url
    assert not [job for job in _jobs(policed_service) if unique in job["source"]]


def _narrow(keys: Path, **rights: Any) -> None:
    entries = json.loads(keys.read_text())
    for entry in entries:
        if entry["name"] == "pipeline":
            entry.update(rights)
    keys.write_text(json.dumps(entries))
