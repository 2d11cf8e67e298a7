"""Every page of the demo, as each role, on a phone-sized screen in Chromium: it opens, it
fits the screen (wide tables scroll in their own box, not the page), every form field has a
name a screen reader can say and no element id is used twice, and nothing on it is
refused by the Content-Security-Policy (an inline style or handler the browser drops: a
progress bar left empty, a confirmation never asked). The pages are found by following
links from home, as a person would, so a link to a page the role cannot open fails too."""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from playwright.sync_api import expect

from chat.models import Topic
from graph.drain import drain

ROOT = Path(__file__).resolve().parents[2]
PHONE = {"width": 390, "height": 844}
# Links not to follow: they change something, download a file or leave the app's pages.
SKIP = re.compile(
    r"logout|delete|revoke|cancel|/files/|manifest|export|\.csv|\.json|/admin/|/api/|healthz|/v1/"
)

# Form fields a screen reader could not name: no <label> for it or around it, no aria-label.
UNNAMED_FIELDS = """() => [...document.querySelectorAll(
    'input:not([type=hidden]):not([type=submit]), select, textarea')]
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
    && !el.getAttribute('aria-labelledby') && !el.title)
  .map(el => el.name || el.id || el.tagName)"""
REPEATED_IDS = """() => { const seen = {};
  for (const el of document.querySelectorAll('[id]')) seen[el.id] = (seen[el.id] || 0) + 1;
  return Object.keys(seen).filter(id => seen[id] > 1); }"""


def _demo_page(browser, browser_login, username: str):
    """A phone-sized page logged in as a demo account (password `demo-<role>`)."""
    page = browser.new_context(viewport=PHONE).new_page()
    page.set_default_timeout(15_000)
    user = User.objects.get(username=username)
    return browser_login(page, user, "demo-" + username.removeprefix("demo_"))


def _crawl(browser, browser_login, live_server, username: str, limit: int = 80) -> list[str]:
    """Visit the pages reachable from home (at most two of each address shape); returns
    what is wrong, one line a page."""
    page = _demo_page(browser, browser_login, username)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Security Policy" in m.text else None)
    problems, seen, shapes, todo = [], set(), {}, [f"{live_server.url}/"]
    while todo and len(seen) < limit:
        url = todo.pop(0)
        if url in seen:
            continue
        seen.add(url)
        refused.clear()
        response = page.goto(url)
        page.wait_for_load_state("load")
        path = urlparse(url).path
        if response.status >= 400:
            problems.append(f"{path}: {response.status}")
            continue
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            problems.append(f"{path}: {width}px wide on a {PHONE['width']}px screen")
        if refused:
            problems.append(f"{path}: refused by the CSP: {refused[0][:120]}")
        unnamed = page.evaluate(UNNAMED_FIELDS)
        if unnamed:
            problems.append(f"{path}: fields without a label: {', '.join(unnamed[:5])}")
        repeated = page.evaluate(REPEATED_IDS)
        if repeated:  # a label or an htmx target finds the first one only
            problems.append(f"{path}: ids used twice: {', '.join(repeated[:5])}")
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            link = urljoin(url, href).split("#")[0]
            if urlparse(link).netloc != urlparse(live_server.url).netloc or SKIP.search(link):
                continue
            shape = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|\d+", "N", urlparse(link).path)
            shapes[shape] = shapes.get(shape, 0) + 1
            if shapes[shape] <= 2 and link not in seen:
                todo.append(link)
    page.context.close()
    assert len(seen) > 5, f"only {len(seen)} pages reached as {username}"
    return problems


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_every_page_fits_a_phone_and_nothing_is_refused_by_the_csp(
    browser, browser_login, live_server, role_groups_restored, graph
):
    call_command("seed_demo", "--force", stdout=io.StringIO())
    drain()  # the lineage pages draw the graph
    problems = {
        name: _crawl(browser, browser_login, live_server, name)
        for name in ("demo_lead", "demo_expert", "demo_user")
    }
    assert problems == {"demo_lead": [], "demo_expert": [], "demo_user": []}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_merging_a_topic_asks_first_and_keeps_it_when_declined(
    browser, browser_login, live_server, role_groups_restored
):
    call_command("seed_demo", "--force", stdout=io.StringIO())
    topic, other = Topic.objects.order_by("name")[:2]
    page = _demo_page(browser, browser_login, "demo_lead")
    page.goto(f"{live_server.url}/topics/{topic.pk}/")
    page.select_option("select[name=into]", str(other.pk))
    asked: list[str] = []

    def decline(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", decline)
    page.click("form[data-confirm] button[type=submit]")
    page.wait_for_timeout(500)
    assert asked and "deleted" in asked[0]
    assert Topic.objects.filter(pk=topic.pk).exists()

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("form[data-confirm] button[type=submit]")
    expect(page).to_have_url(re.compile(rf"/topics/{other.pk}/$"))
    assert not Topic.objects.filter(pk=topic.pk).exists()
    page.context.close()


def test_no_template_uses_what_the_csp_refuses():
    """Inline style attributes and on* handlers are dropped by the browser under our policy
    (style-src and script-src 'self'); the crawl above only sees pages the demo links to."""
    found = []
    for template in sorted((ROOT / "templates").rglob("*.html")):
        for number, line in enumerate(template.read_text().splitlines(), start=1):
            if re.search(r"""\sstyle=["']|\son[a-z]+=["']|<style[\s>]""", line):
                found.append(f"{template.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert found == []
