"""The console in chromium: sign in, a finished job's cues and players, the cost chart,
retrying a batch's failed jobs, the operator's fleet view. Screenshots of every page go
to test-artifacts/console/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from console_support import ARTIFACTS, Console, wait_for
from playwright.sync_api import Browser, Page, expect, sync_playwright


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # Playwright's own browser download is not needed: the system's chromium runs.
        launched = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def _sign_in(page: Page, console: Console, key: str) -> None:
    page.goto(f"{console.base_url}/console")
    expect(page).to_have_url(f"{console.base_url}/console/sign-in")
    page.fill("input[name=api_key]", key)
    page.click("button[type=submit]")


def test_a_finished_job_seeks_its_players_to_a_clicked_cue(page: Page, console: Console) -> None:
    _sign_in(page, console, console.tenant_key)
    expect(page).to_have_url(f"{console.base_url}/console/jobs")
    expect(page.locator("tr[data-status=succeeded]")).to_have_count(2)
    page.screenshot(path=ARTIFACTS / "jobs.png", full_page=True)

    (job,) = console.jobs(status="succeeded", target="en")
    page.click(f"a[href='/console/jobs/{job['id']}']")
    cues = page.locator("tr.cue")
    expect(cues.first).to_be_visible()
    assert cues.count() >= 3
    expect(page.locator("#job-status")).to_have_text("succeeded")
    expect(page.locator("#dub")).to_be_visible()
    expect(page.locator("#video")).to_be_visible()

    third = cues.nth(2)
    start = float(third.get_attribute("data-start") or "nan")
    third.click()
    for player in ("dub", "video"):
        wait_for(
            f"the {player} player to seek to {start} s",
            lambda player=player: (
                abs(page.evaluate(f"document.getElementById('{player}').currentTime") - start)
                < 0.05
            ),
            timeout_s=10,
        )
    expect(third).to_have_class("cue current")
    page.screenshot(path=ARTIFACTS / "job.png", full_page=True)


def test_the_cost_chart_stacks_target_languages(page: Page, console: Console) -> None:
    _sign_in(page, console, console.tenant_key)
    page.click("nav >> text=Costs")
    chart = page.locator("#cost-chart")
    expect(chart).to_have_attribute("data-series", "2")
    expect(page.locator("#cost-totals tbody th")).to_have_text(["de", "en"])
    page.screenshot(path=ARTIFACTS / "costs.png", full_page=True)
    with page.expect_download() as download:
        page.click("#csv")
    assert download.value.suggested_filename == "usage-by-day.csv"

    page.goto(f"{console.base_url}/console/costs?grain=month&stack=label:customer")
    expect(page.locator("#cost-totals tbody th")).to_have_text(["initech"])
    page.screenshot(path=ARTIFACTS / "costs-by-customer.png", full_page=True)


def test_the_batch_page_retries_failed_jobs(page: Page, console: Console) -> None:
    failed = console.jobs(status="failed")
    assert {job["error"]["code"] for job in failed} == {"unsupported_media"}
    before = {job["id"]: datetime.fromisoformat(job["finished_at"]) for job in failed}

    _sign_in(page, console, console.tenant_key)
    page.click("nav >> text=Batches")
    page.click(f"a[href='/console/batches/{console.batch_id}']")
    expect(page.locator("text=unsupported_media: 2")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "batch.png", full_page=True)

    page.click("#retry-failed")
    expect(page.locator(".notice")).to_have_text("Queued 2 failed job(s) again.")
    page.screenshot(path=ARTIFACTS / "batch-retried.png", full_page=True)

    # The worker really ran them again: each failed anew, later than before.
    def failed_again() -> bool:
        jobs = [console.job(job_id) for job_id in before]
        return all(
            job["status"] == "failed"
            and datetime.fromisoformat(job["finished_at"]) > before[job["id"]]
            for job in jobs
        )

    wait_for("the retried jobs to run again", failed_again, timeout_s=60)
    page.reload()
    expect(page.locator("#batch-status")).to_have_text("completed")
    page.screenshot(path=ARTIFACTS / "batch-after-retry.png", full_page=True)


def test_the_operator_sees_the_fleet_read_only(page: Page, console: Console) -> None:
    _sign_in(page, console, console.operator_key)
    expect(page).to_have_url(f"{console.base_url}/console/fleet")
    expect(page.locator("tr[data-tenant]")).to_have_count(2)
    expect(page.locator("tr[data-tenant=acme] td.cost")).not_to_have_text("0")
    page.screenshot(path=ARTIFACTS / "fleet.png", full_page=True)
    page.goto(f"{console.base_url}/console/jobs/{console.jobs()[0]['id']}")
    expect(page.locator("[data-code=operator_read_only]")).to_be_visible()
    page.goto(f"{console.base_url}/console/fleet")
    page.click("text=Sign out")
    expect(page).to_have_url(f"{console.base_url}/console/sign-in")
    page.goto(f"{console.base_url}/console/fleet")
    expect(page).to_have_url(f"{console.base_url}/console/sign-in")


def test_the_job_list_follows_running_jobs_live(page: Page, console: Console) -> None:
    # Runs last: its job adds a third target language to the books.
    submitted = console.api.post(
        "/v1/jobs",
        json={
            "source_uri": "s3://media/acme/demo.mp4",
            "target_lang": "fr",
            "outputs": ["text", "srt"],
        },
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]

    _sign_in(page, console, console.tenant_key)
    page.goto(f"{console.base_url}/console/jobs?target=fr")
    row = page.locator("tr[data-status]")
    assert row.get_attribute("data-status") in ("queued", "running")
    page.screenshot(path=ARTIFACTS / "jobs-live.png", full_page=True)
    # Set once on this page: still there at the end proves the page was never reloaded.
    page.evaluate("window.stillThisPage = true")
    # The job's own page, opened while it runs, reloads itself once it has finished.
    job_page = page.context.new_page()
    job_page.goto(f"{console.base_url}/console/jobs/{job_id}")
    assert job_page.locator("table.cues").count() == 0

    expect(row).to_have_attribute("data-status", "succeeded", timeout=120_000)
    expect(row.locator("progress")).to_have_attribute("value", "100.0")
    assert page.evaluate("window.stillThisPage") is True
    assert console.job(job_id)["status"] == "succeeded"
    expect(job_page.locator("table.cues")).to_be_visible(timeout=15_000)
    expect(job_page.locator("#job-status")).to_have_text("succeeded")
