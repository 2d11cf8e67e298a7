"""Every page checks who asks: walked over the whole URL configuration, so a view added
without its login, role or ownership check fails here rather than in production.

Each route is asked for with made-up ids (a random uuid, 1 for a number). Anonymous visitors
are sent to the login page everywhere but the few public routes. A person without a role
(`outsider`) and an end user may open only the pages listed for them; everywhere else a GET
and a POST answer 403 or 404 (a 404 for an id that exists for nobody is fine: what matters
is that nothing is shown or done), never a page or a redirect after doing something.
"""

from __future__ import annotations

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

pytestmark = pytest.mark.django_db

# reached without a login: the login page itself, health checks, the browser's icon, and
# machine endpoints that authenticate each request with a bearer token (401 without one)
PUBLIC = ("/login/", "/healthz", "/favicon.ico", "/api/v1/", "/v1/traces", "/static/", "/admin/")

# what a person without a role may open, and an end user (beside the public routes)
OUTSIDER_PAGES = {"/", "/inbox/", "/logout/"}
END_USER_PAGES = OUTSIDER_PAGES | {"/chat/", "/explore/", "/chat/tokens/", "/chat/new"}


def _routes() -> list[str]:
    """Every URL pattern as a path, with made-up values for its parameters."""
    found: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            elif isinstance(p, URLPattern) and "^" not in route and "(?P" not in route:
                found.append(route)  # (regular expressions: the API's catch-all 404, admin)

    walk(get_resolver().url_patterns, "/")
    paths = []
    for route in found:
        path = route.lstrip("^").rstrip("$").replace("\\Z", "")
        for converter, value in (
            ("uuid", str(uuid.uuid4())),
            ("int", "1"),
            ("path", "x.txt"),
            ("slug", "x"),
            ("str", "x"),
        ):
            while f"<{converter}:" in path:
                start = path.index(f"<{converter}:")
                path = path[:start] + value + path[path.index(">", start) + 1 :]
        paths.append(path)
    return sorted(set(paths))


ROUTES = _routes()


def test_the_walk_finds_the_apps_pages():
    assert len(ROUTES) > 60
    for page in ("/review/", "/releases/", "/evaluators/", "/experiments/", "/topics/"):
        assert page in ROUTES


@pytest.mark.parametrize("path", [r for r in ROUTES if not r.startswith(PUBLIC)])
def test_anonymous_visitors_are_sent_to_log_in(client, path):
    for method in (client.get, client.post):
        response = method(path)
        assert response.status_code == 302, (method.__name__, path, response.status_code)
        assert response["Location"].startswith(reverse("login")), path


@pytest.mark.parametrize("role", ["outsider", "end_user"])
def test_people_without_a_reviewers_role_open_only_their_own_pages(client_for, request, role):
    user = request.getfixturevalue(role)
    client = client_for(user)
    allowed = END_USER_PAGES if role == "end_user" else OUTSIDER_PAGES
    opened, acted = [], []
    for path in ROUTES:
        if path.startswith(PUBLIC) or path in allowed:
            continue
        got = client.get(path)
        if got.status_code not in (403, 404, 405):
            opened.append((path, got.status_code))
        posted = client.post(path)
        if posted.status_code not in (403, 404, 405):
            acted.append((path, posted.status_code))
    assert opened == [] and acted == []


# a lead's alone (README, "Pages"): experts are refused there
LEAD_ONLY = (
    "/releases/",
    "/evaluators/",
    "/settings/",
    "/chat/models/",
    "/graph/analytics/",
    "/review/adjudicate/",
    "/review/guidelines/",
)


def test_experts_are_refused_the_leads_pages(client_for, expert):
    client = client_for(expert)
    opened = []
    for path in (r for r in ROUTES if r.startswith(LEAD_ONLY)):
        for method in (client.get, client.post):
            status = method(path).status_code
            if status not in (403, 404, 405):
                opened.append((method.__name__, path, status))
    assert opened == []
