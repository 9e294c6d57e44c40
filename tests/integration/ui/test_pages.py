"""The pushes page in a real browser, against the live service and a real worker."""

from __future__ import annotations

import datetime as dt
import re

from playwright.sync_api import Page, expect

from tests.support.browser import (
    artifacts_dir,
    seen,
    shown_after_finish_ms,
    sign_in,
    tab_to,
    wait_seen,
)
from tests.support.images import ImageBuilder
from tests.support.pushgate import API_KEY, Service
from tests.support.services import Registry
from worker.jobs.model import DestinationResult, Job, JobError, JobStatus, new_job_id
from worker.jobs.store import JobStore
from worker.timestamps import utcnow

MiB = 1 << 20
WAIT_MS = 120_000


def test_wrong_key_is_refused_clearly_then_sign_in_and_out(page: Page) -> None:
    sign_in(page, "not-a-real-key")
    expect(page.get_by_role("alert")).to_contain_text("This API key was not accepted")
    assert page.evaluate("sessionStorage.length") == 0
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_label("API key").press("Enter")
    expect(page.get_by_role("heading", name="Pushes")).to_be_visible()
    assert page.evaluate("Object.values(sessionStorage)") == [API_KEY]
    assert API_KEY not in page.url
    assert page.evaluate("document.cookie") == ""
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_failed_job_page_says_what_went_wrong(
    page: Page, ui_service: Service, source_registry: Registry, unique: str
) -> None:
    job = ui_service.push(source=f"{source_registry.host}/acme/{unique}:missing", app_slug="myapp")
    assert job["status"] == "failed", job
    sign_in(page)
    link = page.get_by_role("link", name=f"Push {job['id']}")
    expect(link).to_be_visible()
    tab_to(page, f"#/jobs/{job['id']}")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")  # keyboard only
    error = page.locator("#job-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("does not exist")  # the plain-words line for not_found
    expect(page.locator("#job-error-type")).to_have_text(job["error"]["type"])
    expect(page.locator("#job-error-detail")).to_have_text(job["error"]["detail"])
    expect(page.locator("#job-badge .badge-text")).to_have_text("failed")
    expect(page.locator("#job-deliveries")).not_to_be_empty()
    expect(page.get_by_role("button", name="Cancel push…")).to_be_hidden()


def test_cancel_a_running_push_from_its_page(
    page: Page,
    ui_service: Service,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    source_images.image(f"acme/{unique}", "1", [64 * MiB])
    job_id = ui_service.submit(source=f"{source_registry.host}/acme/{unique}:1", app_slug="myapp")
    sign_in(page)
    expect(page.get_by_role("heading", name="Pushes")).to_be_visible()
    page.goto(f"/ui/#/jobs/{job_id}")
    page.wait_for_function(
        "() => (document.querySelector('#job-summary progress') || {}).value > 0",
        timeout=WAIT_MS,
    )
    page.get_by_role("button", name="Cancel push…").click()
    dialog = page.get_by_role("dialog", name="Cancel this push?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Keep it running")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Cancel push", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#job-badge .badge-text")).to_have_text("cancelled", timeout=WAIT_MS)
    job = ui_service.wait_for(job_id)
    assert job["status"] == "cancelled" and job["error"]["type"] == "cancelled"
    expect(page.locator("#job-error-type")).to_have_text("cancelled")
    latency = shown_after_finish_ms(page, f"page:{job_id}", job)
    print(f"\njob page showed `cancelled` {latency:.0f} ms after the job's finished_at")


def test_running_push_bar_advances_then_succeeded(
    page: Page,
    ui_service: Service,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    # Layers of different sizes over the 1 MiB/s-per-connection link finish seconds apart (the
    # last after about 24 s), so the bar sits strictly between empty and full for longer than the
    # list's 5 s re-read however loaded the machine is; equal layers could all land in one re-read.
    image = source_images.image(f"acme/{unique}", "1.0.1", [2 * MiB, 6 * MiB, 14 * MiB, 24 * MiB])
    sign_in(page)
    job_id = ui_service.submit(
        source=f"{source_registry.host}/acme/{unique}:1.0.1", app_slug="myapp"
    )
    row = page.locator(f"tr[data-job-id='{job_id}']")
    expect(row).to_be_visible(timeout=WAIT_MS)
    page.wait_for_function(
        "(id) => (window.__seen[id] || []).some((r) => r.value > 0 && r.value < r.max)",
        arg=job_id,
        timeout=WAIT_MS,
    )
    folder = artifacts_dir()
    page.screenshot(path=str(folder / "jobs-list.png"), full_page=True)
    print(f"\nscreenshot of the jobs list: {folder / 'jobs-list.png'}")
    wait_seen(page, job_id, "succeeded")
    job = ui_service.wait_for(job_id)
    assert job["status"] == "succeeded" and job["digest"] == image.digest
    shown = seen(page, job_id)
    running = [r for r in shown if r["status"] == "running" and r["value"] is not None]
    assert any(0 < r["value"] < r["max"] for r in running), shown
    values = [r["value"] for r in shown if r["value"] is not None]
    assert values == sorted(values), f"the bar went backwards: {shown}"
    assert shown[-1]["value"] == shown[-1]["max"] == job["progress"]["bytes_total"]
    blobs = job["progress"]["blobs_total"]
    assert f"{blobs}/{blobs} blobs" in shown[-1]["text"]
    assert any(f"/{blobs} blobs" in (r["text"] or "") for r in running)
    expect(row.locator(".badge-text")).to_have_text("succeeded")
    latency = shown_after_finish_ms(page, job_id, job)
    print(f"jobs list showed `succeeded` {latency:.0f} ms after the job's finished_at")
    row.get_by_role("button", name=f"Copy digest {image.digest}").click()
    assert page.evaluate("navigator.clipboard.readText()") == image.digest


def test_filter_by_status_and_app(
    page: Page,
    ui_service: Service,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    source_images.image(f"acme/{unique}", "1", [MiB])
    shared = ui_service.push(source=f"{source_registry.host}/acme/{unique}:1", app_slug="shared")
    failed = ui_service.push(source=f"{source_registry.host}/acme/{unique}:nope", app_slug="myapp")
    assert (shared["status"], failed["status"]) == ("succeeded", "failed")
    sign_in(page)
    expect(page.locator(f"tr[data-job-id='{shared['id']}']")).to_be_visible()
    page.get_by_label("Status").select_option("failed")
    expect(page.locator(f"tr[data-job-id='{failed['id']}']")).to_be_visible()
    expect(page.locator(f"tr[data-job-id='{shared['id']}']")).to_have_count(0)
    badges = page.locator("#jobs tbody .badge-text").all_inner_texts()
    assert badges and set(badges) == {"failed"}
    assert "status=failed" in page.url
    page.get_by_label("Status").select_option("")
    page.get_by_role("search").get_by_label("App").fill("shared")
    page.get_by_role("search").get_by_label("App").press("Enter")
    expect(page.locator(f"tr[data-job-id='{shared['id']}']")).to_be_visible()
    expect(page.locator("#jobs tbody tr")).to_have_count(1)


HOSTILE_SOURCE = "127.0.0.1:5000/acme/<img src=x onerror=window.__pwned=1>:1"
HOSTILE_DETAIL = "<script>window.__pwned=2</script><b>manifest</b> refused"


def test_html_in_job_fields_shows_as_text_and_runs_nothing(page: Page, ui_service: Service) -> None:
    store = JobStore.from_url(ui_service.env["PUSHGATE_REDIS_URL"], 3600)
    job = Job(
        id=new_job_id(),
        status=JobStatus.FAILED,
        source=HOSTILE_SOURCE,
        app_slug="myapp",
        image="<svg onload=window.__pwned=3>",
        tags=["1"],
        destinations=["<iframe src=javascript:window.__pwned=4>"],
        removed=[{"digest": "<img src=y onerror=window.__pwned=5>", "reason": "<u>x</u>"}],
        error=JobError("rejected", "<i>Rejected</i>", HOSTILE_DETAIL),
        started_at=utcnow(),
        finished_at=utcnow(),
    )
    store.create(job)
    store.close()
    sign_in(page)
    row = page.locator(f"tr[data-job-id='{job.id}']")
    expect(row).to_contain_text(HOSTILE_SOURCE)
    page.goto(f"/ui/#/jobs/{job.id}")
    expect(page.locator("#job-error-detail")).to_have_text(HOSTILE_DETAIL)
    expect(page.locator("#job-error-title")).to_have_text("<i>Rejected</i>")
    expect(page.locator("#job-destinations")).to_contain_text(job.destinations[0])
    expect(page.locator("#job-removed")).to_contain_text(job.removed[0]["digest"])
    expect(page.locator("#job-summary")).to_contain_text(job.image)
    markup = "main img, main script, main svg, main iframe, main b, main i, main u"
    assert page.locator(markup).count() == 0
    assert page.evaluate("window.__pwned") is None


def test_the_page_counts_signatures_and_sboms(page: Page, ui_service: Service) -> None:
    store = JobStore.from_url(ui_service.env["PUSHGATE_REDIS_URL"], 3600)
    sig = {"digest": "sha256:" + "5" * 64, "kind": "cosign sig", "subject": "sha256:" + "a" * 64}
    results = [
        DestinationResult("basic", "r.example", "myapp/api", ["r.example/myapp/api:1"]),
        DestinationResult("ghcr", "ghcr.io", "acme/api", ["ghcr.io/acme/api:1"]),
    ]
    results[0].carried, results[1].carried = [sig, sig], [sig]
    results[0].left_behind = [sig]
    job = Job(
        id=new_job_id(),
        status=JobStatus.SUCCEEDED,
        source="127.0.0.1:5000/acme/api:1",
        app_slug="myapp",
        image="api",
        tags=["1"],
        destinations=[r.references[0] for r in results],
        results=results,
        verified=[{"digest": sig["subject"], "key": "keys/release.pub", "layout": "cosign"}],
        started_at=utcnow(),
        finished_at=utcnow(),
    )
    store.create(job)
    store.close()
    sign_in(page)
    page.goto(f"/ui/#/jobs/{job.id}")
    summary = page.locator("#job-summary")
    expect(summary).to_contain_text("3 carried, 1 left behind, 1 verified")


def test_load_more_follows_next_cursor(page: Page, ui_service: Service) -> None:
    store = JobStore.from_url(ui_service.env["PUSHGATE_REDIS_URL"], 3600)
    ids = []
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    for n in range(23):  # one page is 20
        job = Job(
            id=new_job_id(),
            status=JobStatus.SUCCEEDED,
            source=f"127.0.0.1:5000/acme/paged:{n}",
            app_slug="lockedapp",
            image="paged",
            tags=[str(n)],
            destinations=[f"vendor/lockedapp/paged:{n}"],
            created_at=start + dt.timedelta(seconds=n),
        )
        store.create(job)
        ids.append(job.id)
    store.close()
    sign_in(page)
    page.get_by_role("search").get_by_label("App").fill("lockedapp")
    page.get_by_role("search").get_by_label("App").press("Enter")
    rows = page.locator("#jobs tbody tr")
    expect(rows).to_have_count(20)
    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(23)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    shown = [rows.nth(i).get_attribute("data-job-id") for i in range(23)]
    assert shown == ids[::-1], "not newest first"


def test_new_push_shows_the_plan_as_one_types_then_pushes(
    page: Page,
    ui_service: Service,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    source_images.image(f"acme/{unique}", "1", [64 * 1024, 1024])
    sign_in(page)
    page.get_by_role("link", name="New push").click()
    expect(page.get_by_role("heading", name="New push")).to_be_visible()
    form = page.get_by_role("region", name="New push")
    push_button = form.get_by_role("button", name="Push", exact=True)
    expect(push_button).to_be_disabled()
    form.get_by_label("App").fill("lockedout")  # the key may not push here: the rule shows
    form.get_by_label("Source").press_sequentially(f"{source_registry.host}/acme/{unique}:1")
    status = form.get_by_role("status")
    expect(status).to_have_text("A rule refuses this push.", timeout=WAIT_MS)
    expect(page.locator("#plan-result")).to_contain_text("key.app_slugs")
    expect(push_button).to_be_disabled()
    form.get_by_label("App").fill("myapp")
    expect(status).to_contain_text("Allowed: ", timeout=WAIT_MS)
    table = form.get_by_role("table", name="What each target would get")
    expect(table).to_contain_text(f"myapp/{unique}")
    expect(table).to_contain_text("1 new")
    push_button.click()
    expect(page.get_by_role("heading", name=re.compile("^Push [0-9a-f]{32}$"))).to_be_visible()
    badge = page.locator("#job-badge [data-status]")
    expect(badge).to_have_attribute("data-status", "succeeded", timeout=WAIT_MS)
    job_id = page.url.rsplit("/", 1)[-1]
    assert ui_service.wait_for(job_id)["destinations"][0].endswith(f"myapp/{unique}:1")
