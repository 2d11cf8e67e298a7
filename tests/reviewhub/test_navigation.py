"""The navigation marks the page you are on, and only that one (a page inside another's
path, Models under Chat or Replay under Experiments, marks itself, not its parent)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

CURRENT = re.compile(r'<a href="([^"]+)"(?: id="[^"]+")? aria-current="page">([^<]+)')


@pytest.mark.parametrize(
    ("path", "marked"),
    [
        ("/chat/", "Chat"),
        ("/chat/models/", "Models"),
        ("/explore/", "Conversations"),
        ("/inbox/", "Inbox"),
        ("/review/", "Review"),
        ("/review/rubric/", "Review"),
        ("/experiments/", "Experiments"),
        ("/experiments/new", "Experiments"),
        ("/experiments/replay", "Replay"),
        ("/topics/", "Topics"),
        ("/graph/analytics/", "Analytics"),
        ("/releases/", "Releases"),
        ("/evaluators/", "Evaluators"),
        ("/settings/", "Settings"),
    ],
)
def test_the_page_you_are_on_is_marked_in_the_navigation(client_for, lead, path, marked):
    page = client_for(lead).get(path)
    assert page.status_code == 200
    found = CURRENT.findall(page.content.decode())
    assert [label.strip() for _, label in found] == [marked]


def test_the_home_page_marks_nothing(client_for, lead):
    assert not CURRENT.findall(client_for(lead).get("/").content.decode())
