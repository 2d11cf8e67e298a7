"""A reviewer works one item with the keyboard only, in a real Chromium."""

import re

import pytest
from playwright.sync_api import expect

from annotations.models import Example, QueueItem
from tests.factories import make_rubric, make_turn


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_review_correct_and_approve_with_the_keyboard_only(
    roles_seeded, live_server, page, browser_login, end_user, expert
):
    make_rubric()
    turn = make_turn(
        end_user, question="What port does Bolt use?", answer="Bolt uses 7474.", feedback="down"
    )
    browser_login(page, expert)
    page.goto(f"{live_server.url}/review/")
    page.keyboard.press("n")  # take the next item
    page.wait_for_url(re.compile(r"/review/item/"))
    expect(page.locator("#question")).to_contain_text("What port does Bolt use?")

    page.keyboard.press("?")
    expect(page.locator("#shortcut-help")).to_be_visible()
    page.keyboard.press("?")
    expect(page.locator("#shortcut-help")).to_be_hidden()

    for key in ("5", "4", "3"):  # each rates the focused criterion, then moves on
        page.keyboard.press(key)
    expect(page.locator("input[name=score_correctness][value='5']")).to_be_checked()
    expect(page.locator("input[name=score_groundedness][value='4']")).to_be_checked()
    expect(page.locator("input[name=score_helpfulness][value='3']")).to_be_checked()

    page.keyboard.press("e")  # into the editor
    expect(page.locator("#corrected-answer")).to_be_focused()
    page.keyboard.press("Control+a")
    page.keyboard.type("Bolt uses port 7687.")
    expect(page.locator("#diff ins").first).to_contain_text("port 7687")  # live diff
    expect(page.locator("#diff del").first).to_contain_text("7474")
    page.keyboard.press("Escape")  # out of the editor, shortcuts work again
    page.keyboard.press("a")  # approve
    expect(page.locator("#item-state")).to_have_text("Approved")
    expect(page.locator("#history")).to_contain_text("Corrected")

    example = Example.objects.get(turn=turn)
    assert example.answer == "Bolt uses port 7687." and example.corrected
    assert example.scores == {"correctness": 5.0, "groundedness": 4.0, "helpfulness": 3.0}
    assert QueueItem.objects.get(turn=turn).state == "approved"
