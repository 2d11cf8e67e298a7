"""In Chromium: the new-experiment form shows the fields of the chosen question source only."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_form_shows_one_question_source_at_a_time(
    role_groups_restored, live_server, page, browser_login, expert
):
    browser_login(page, expert)
    page.goto(f"{live_server.url}/experiments/new")
    filters, listed, release = (
        page.locator(f"fieldset[data-when='source={v}']") for v in ("filter", "list", "release")
    )
    expect(filters).to_be_visible()  # the default source
    expect(listed).to_be_hidden()
    expect(release).to_be_hidden()

    page.check("input[name=source][value=list]")
    expect(listed).to_be_visible()
    expect(page.locator("textarea[name=question_ids]")).to_be_editable()
    expect(filters).to_be_hidden()

    page.check("input[name=source][value=release]")
    expect(release).to_be_visible()
    expect(listed).to_be_hidden()
