"""The live service behind a slow link to the vendor, and a real chromium to look at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.browser import OBSERVER, launch_chromium
from tests.support.proxy import Faults, RegistryProxy
from tests.support.pushgate import Service, launch, redis_db
from tests.support.services import RedisServer, Registry

MiB = 1 << 20
LINK = MiB  # bytes per second per connection to the vendor: a push of tens of MiB runs for seconds


@pytest.fixture(scope="module")
def slow_vendor(vendor_registry: Registry) -> Iterator[RegistryProxy]:
    """The vendor stand-in behind a throttled link, so a push can be watched as it runs."""
    proxy = RegistryProxy(vendor_registry.port, faults=Faults(bandwidth=LINK))
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def ui_service(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    source_registry: Registry,
    slow_vendor: RegistryProxy,
) -> Iterator[Service]:
    """gunicorn + one Celery worker, pushing over the slow link."""
    svc = launch(
        tmp_path_factory.mktemp("ui"),
        redis_db(redis_server),
        source_registry.host,
        slow_vendor.host,
    )
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless."""
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, ui_service: Service) -> Iterator[Page]:
    """A fresh tab (own sessionStorage) at the service; fails the test on a script error or a
    Content-Security-Policy violation."""
    context = browser.new_context(
        base_url=ui_service.url,
        viewport={"width": 1360, "height": 820},
        permissions=["clipboard-read", "clipboard-write"],
    )
    context.add_init_script(OBSERVER)
    tab = context.new_page()
    errors: list[Any] = []
    tab.on("pageerror", lambda error: errors.append(error))
    yield tab
    violations = tab.evaluate("window.__violations") if not tab.is_closed() else []
    context.close()
    assert errors == [], f"the page threw: {errors}"
    assert violations == [], f"the page broke its Content-Security-Policy: {violations}"
