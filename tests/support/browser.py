"""Debian's chromium under Playwright, for the page's browser tests (nothing is downloaded)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Playwright

from tests.support.pushgate import API_KEY
from tests.support.services import ServiceFailed

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]

# Runs in every page before its own scripts: records what the page shows, as it shows it, with
# the browser's clock (the machine's), and any Content-Security-Policy violation.
OBSERVER = """
window.__seen = {};
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
const note = (key, status, bar, text) => {
  const log = (window.__seen[key] = window.__seen[key] || []);
  const last = log[log.length - 1];
  const value = bar && bar.hasAttribute("value") ? bar.value : null;
  const max = bar ? bar.max : null;
  if (last && last.status === status && last.value === value && last.text === text) return;
  log.push({ t: Date.now(), status, value, max, text });
};
new MutationObserver(() => {
  for (const row of document.querySelectorAll("#jobs tbody tr")) {
    const badge = row.querySelector("[data-status]");
    note(row.dataset.jobId, badge && badge.dataset.status, row.querySelector("progress"),
      row.querySelector(".progress-text")?.textContent);
  }
  const view = document.getElementById("job-view");
  const badge = document.querySelector("#job-badge [data-status]");
  if (view && !view.hidden && badge) {
    note("page:" + location.hash.split("/").pop(), badge.dataset.status,
      document.querySelector("#job-summary progress"), null);
  }
}).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
"""


def launch_chromium(playwright: Playwright) -> Browser:
    """Start the system chromium headless; ServiceFailed when it is not installed."""
    if not Path(CHROMIUM).exists():
        raise ServiceFailed(f"{CHROMIUM} is missing: run `make deps` (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def artifacts_dir() -> Path:
    """Where browser tests leave screenshots: $PUSHGATE_TEST_ARTIFACTS or .artifacts/ui."""
    folder = Path(os.environ.get("PUSHGATE_TEST_ARTIFACTS") or ROOT / ".artifacts" / "ui")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in(page: Page, key: str = API_KEY) -> None:
    """Open the page and sign in by pasting a key."""
    page.goto("/ui/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def tab_to(page: Page, href: str) -> None:
    """Press Tab until the link to `href` has the focus, as a keyboard user would."""
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href')") == href:
            return
    raise AssertionError(f"Tab never reached the link to {href}")


def seen(page: Page, key: str) -> list[dict[str, Any]]:
    """What the page showed for a job (list row id, or "page:ID"), in order, with times."""
    return list(page.evaluate("(key) => window.__seen[key] || []", key))


def wait_seen(page: Page, key: str, status: str) -> None:
    """Wait until the page has shown `status` for the job."""
    page.wait_for_function(
        "([key, status]) => (window.__seen[key] || []).some((r) => r.status === status)",
        arg=[key, status],
        timeout=120_000,
    )


def shown_after_finish_ms(page: Page, key: str, job: dict[str, Any]) -> float:
    """Milliseconds from the job's finished_at to the page first showing its end status."""
    shown = next(r["t"] for r in seen(page, key) if r["status"] == job["status"])
    finished = dt.datetime.fromisoformat(job["finished_at"].replace("Z", "+00:00"))
    return float(shown - finished.timestamp() * 1000)
