"""The app's own pages satisfy its Content-Security-Policy: Chromium reports no violation on the
main pages, used the way a lead uses them (asking in chat, reviewing, releases, analytics)."""

from __future__ import annotations

import pytest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

COLLECT = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


@pytest.fixture
def seeded(transactional_db):
    import importlib

    from django.apps import apps

    from accounts.services import role_groups_ensure

    role_groups_ensure()
    importlib.import_module("chat.migrations.0003_default_prompt_template").seed(apps, None)


@pytest.fixture
def watched_page(page):
    """The page, with every CSP violation (event or console message) collected."""
    console: list[str] = []
    page.on(
        "console",
        lambda msg: console.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.add_init_script(COLLECT)
    seen: list[str] = []

    def violations() -> list[str]:
        seen.extend(page.evaluate("window.__csp || []"))
        return seen + console

    page.violations = violations
    return page


def test_main_pages_log_no_csp_violation(
    seeded, watched_page, browser_login, live_server, lead, end_user, graph
):
    from tests.factories import make_rubric, make_turn

    make_rubric()
    make_turn(end_user, question="What port does Bolt use?", answer="7474.", feedback="down")
    page = watched_page
    base = live_server.url
    page.goto(f"{base}/login/")
    assert page.violations() == []
    response = page.request.get(f"{base}/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]

    browser_login(page, lead)
    page.goto(f"{base}/chat/")
    page.click("text=Start a conversation")
    page.fill("textarea[name=question]", "How do I restore a snapshot?")
    page.click("#ask-form button[type=submit]")
    page.locator("article.turn[data-status=ok]").wait_for()
    assert page.violations() == []

    page.goto(f"{base}/review/")
    page.keyboard.press("n")  # take the next item
    page.locator("#review-form").wait_for()
    page.locator("#corrected-answer").fill("Bolt uses 7687.")
    page.wait_for_timeout(400)  # the htmx diff preview
    assert page.violations() == []

    for path in ("/releases/", "/releases/new/", "/graph/analytics/", "/experiments/replay"):
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
        assert page.violations() == [], path
