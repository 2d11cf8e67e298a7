"""In Chromium: search, then a bulk action with its confirmation; the inbox count; and a
large bulk action on the real Celery worker with its progress bar."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from annotations.models import Example, QueueItem
from tests.conftest import wait_until
from tests.factories import make_turn
from workspace.models import BulkJob


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_lead_searches_then_approves_the_matches_after_confirming_the_count(
    roles_seeded, live_server, page, browser_login, end_user, lead
):
    for i in range(3):
        make_turn(end_user, question=f"How do refunds work, case {i}?", answer="Five days.")
    make_turn(end_user, question="Reset my password", answer="Use the link.")
    browser_login(page, lead)
    page.click("text=Conversations")
    page.fill("input[name=q]", "refund")
    page.click("#explore-form button[type=submit]")
    expect(page.locator(".explore-row")).to_have_count(3)
    expect(page.locator("#result-count")).to_contain_text("3 turns")

    page.click("#bulk-link")
    page.select_option("select[name=action]", "approve")
    page.fill("input[name=reason]", "all three checked against the policy")
    page.click("#bulk-form button[type=submit]")
    expect(page.locator("#bulk-count")).to_contain_text("This will touch 3 turns")
    assert not Example.objects.exists()  # nothing happens before the confirmation

    page.click("#bulk-confirm-button")
    page.wait_for_url(re.compile(r"/explore/bulk/[0-9a-f-]+/$"))
    expect(page.locator("#bulk-result")).to_contain_text("3 changed")
    assert Example.objects.filter(approval_reason__startswith="all three").count() == 3

    page.click("text=← back to the list")
    expect(page.locator(".explore-row").first).to_contain_text("Approved")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_inbox_count_in_the_navigation_leads_to_the_assigned_item(
    roles_seeded, live_server, page, browser_login, end_user, expert, lead
):
    make_turn(end_user, question="Please look at this answer")
    from annotations.services import queue_items_assign

    queue_items_assign(turn_ids=[QueueItem.objects.get().turn_id], reviewer=expert, actor=lead)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    browser_login(page, expert)
    page.click("label.nav-toggle-label")
    expect(page.locator("#inbox-count")).to_have_text("1")
    page.click("#nav-inbox")
    expect(page.locator("#inbox-assigned")).to_contain_text("Please look at this answer")


@pytest.mark.django_db(transaction=True)
def test_a_large_bulk_action_runs_on_the_worker_and_its_progress_reaches_100(
    roles_seeded, client_for, end_user, expert, celery_worker, monkeypatch
):
    from workspace import services

    monkeypatch.setattr(services, "BULK_INLINE", 2)
    monkeypatch.setattr(services, "BATCH", 2)
    for i in range(5):
        make_turn(end_user, question=f"batch question {i}")
    client = client_for(expert)
    response = client.post("/explore/bulk/", {"q": "batch", "action": "queue", "priority": "321"})
    job = BulkJob.objects.get()
    assert response["Location"].endswith(f"/{job.id}/")
    wait_until(
        lambda: BulkJob.objects.get(pk=job.pk).status in ("done", "failed"),
        timeout=60,
        message="the worker did not finish the bulk job",
    )
    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.percent) == ("done", 5, 5, 100), job.error
    assert QueueItem.objects.filter(priority=321).count() == 5
    page = client.get(f"/explore/bulk/{job.id}/").content.decode()
    assert 'max="100" value="100"' in page and "5 changed" in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_on_a_phone_the_filters_fold_under_the_search_box_unless_some_are_set(
    roles_seeded, live_server, page, browser_login, end_user, expert
):
    make_turn(end_user, question="How do refunds work?", feedback="down")
    make_turn(end_user, question="Reset my password")
    page.set_viewport_size({"width": 390, "height": 844})
    browser_login(page, expert)
    page.goto(f"{live_server.url}/explore/")
    expect(page.locator("input[name=q]")).to_be_visible()
    expect(page.locator("select[name=rating]")).to_be_hidden()
    page.click(".more-filters summary")
    page.select_option("select[name=rating]", "down")
    page.click("#explore-form button[type=submit]")
    expect(page.locator(".explore-row")).to_have_count(1)
    # a filter is set: open after the search, and its summary says how many
    expect(page.locator("select[name=rating]")).to_be_visible()
    expect(page.locator(".more-filters summary")).to_contain_text("1 set")
    # each row a card that fits the phone, the unlabelled cells labelled
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    expect(page.locator(".explore-row td[data-label=review]")).to_be_visible()

    page.set_viewport_size({"width": 1280, "height": 900})  # a desktop: open from the start
    page.goto(f"{live_server.url}/explore/")
    expect(page.locator("select[name=rating]")).to_be_visible()
