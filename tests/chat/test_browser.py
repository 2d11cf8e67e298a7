import pytest

from chat.models import Feedback, Turn

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_user_asks_sees_the_answer_stream_in_with_sources_and_rates_it(
    seeded_db, page, browser_login, live_server, end_user, kb, llm_server
):
    llm_server.answer = "Bolt connections use port **7687** with TLS [1]. Use neo4j+s URIs [1]."
    llm_server.token_delay = 0.08
    browser_login(page, end_user)
    page.goto(f"{live_server.url}/chat/")
    page.click("text=Start a conversation")
    page.fill("textarea[name=question]", "What port does Bolt use?")
    page.select_option("select[name=model]", "openai:test-model")
    page.click("#ask-form button[type=submit]")
    # tokens appear before the answer is finished
    streaming = page.locator("article.turn.streaming .answer-text")
    streaming.filter(has_text="Bolt").wait_for()
    assert "neo4j+s" not in streaming.inner_text()
    # then the logged, rendered turn replaces it, with its sources
    turn = page.locator("article.turn[data-status=ok]")
    turn.wait_for()
    assert "7687" in turn.locator(".answer-text strong").inner_text()
    # the first question names the conversation on the page, without a reload
    assert page.locator("#conv-title").inner_text() == "What port does Bolt use?"
    assert page.title().startswith("What port does Bolt use?")
    turn.locator("details.sources > summary").click()
    first_source = turn.locator("details.source").first
    first_source.locator("summary").click()
    assert "7687" in first_source.locator(".chunk").inner_text()
    assert "score" in first_source.locator("summary").inner_text()
    # rate it down with a comment, then change it to up
    turn.locator("input[name=comment]").fill("Should mention the TLS certificate")
    turn.locator("button[value=down]").click()
    page.locator("text=You rated this not helpful").wait_for()
    assert page.locator("text=Your comment: Should mention the TLS certificate").is_visible()
    page.locator("article.turn button[value=up]").click()
    page.locator("text=You rated this helpful").wait_for()
    stored = Turn.objects.get()
    assert stored.answer == llm_server.answer and stored.model == "test-model"
    assert Feedback.objects.get(turn=stored).rating == "up"


def test_phone_sized_screen_can_chat_offline(
    seeded_db, browser, browser_login, live_server, end_user, kb
):
    context = browser.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        browser_login(page, end_user)
        page.goto(f"{live_server.url}/chat/")
        page.click("text=Start a conversation")
        page.fill("textarea[name=question]", "How do I restore a snapshot?")
        page.keyboard.press("Enter")
        turn = page.locator("article.turn[data-status=ok]")
        turn.wait_for()
        assert "offline model" in turn.inner_text()
        box = page.locator("#ask-form").bounding_box()
        assert box["width"] <= 390
    finally:
        context.close()
