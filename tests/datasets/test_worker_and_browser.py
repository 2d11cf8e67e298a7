"""The build on a real Celery worker, and the whole flow in Chromium."""

from __future__ import annotations

import orjson
import pytest

from datasets import selectors, services
from datasets.exports import sha256_of
from datasets.models import Release
from tests.conftest import wait_until
from tests.factories import make_examples


@pytest.mark.django_db(transaction=True)
def test_build_runs_on_the_worker_and_progress_reaches_100(lead, celery_worker):
    make_examples(lead, 40)
    release = services.release_create(
        user=lead,
        name="w",
        version=1,
        filters={},
        formats=["openai_chat", "openai_dpo"],
        build=True,
    )
    done = wait_until(
        lambda: Release.objects.get(id=release.id).state != "building",
        timeout=60,
        message="the worker did not finish the build",
    )
    release.refresh_from_db()
    assert done and release.state == "built", release.error
    assert release.progress_percent == 100
    assert release.progress_total > 0 and release.progress_done == release.progress_total
    for f in release.manifest["files"]:
        assert sha256_of(selectors.release_folder(release) / f["name"]) == f["sha256"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_lead_builds_another_approves_and_files_download(
    page, browser, browser_login, live_server, celery_worker, lead, lead2
):
    make_examples(lead, 25)
    make_examples(lead, 5, corrected=True)
    browser_login(page, lead)
    page.goto(f"{live_server.url}/releases/")
    page.get_by_text("Define the first release").click()
    page.fill("input[name=name]", "browser")
    page.fill("input[name=seed]", "11")
    page.wait_for_selector("#preview >> text=30 examples selected")
    page.get_by_role("button", name="Save and build").click()
    page.wait_for_selector(".badge.state-built", timeout=60_000)
    assert page.get_by_text("Another lead approves what you built").is_visible()

    context = browser.new_context()
    other = context.new_page()
    other.set_default_timeout(15_000)
    browser_login(other, lead2)
    other.goto(page.url)
    other.get_by_role("button", name="Approve").click()
    other.wait_for_selector(".badge.state-approved")
    with other.expect_download() as download:
        other.get_by_role("link", name="train.openai_chat.jsonl").click()
    lines = [orjson.loads(x) for x in open(download.value.path(), "rb").read().splitlines()]
    assert lines and all(x["messages"][-1]["role"] == "assistant" for x in lines)
    with other.expect_download() as manifest:
        other.get_by_role("link", name="Download manifest (JSON)").click()
    data = orjson.loads(open(manifest.value.path(), "rb").read())
    assert data["approved_by"] == "leo" and data["built_by"] == "lena"
    context.close()
    release = Release.objects.get(name="browser")
    assert release.state == "approved" and release.approved_by == lead2
