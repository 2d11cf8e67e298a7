"""The home page: what waits for each person, their latest chats, and every area they may use."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from annotations import services as annotation_services
from annotations.models import QueueItem
from chat.models import Conversation
from datasets.models import Release
from tests.factories import conversation, make_turn, turn

pytestmark = pytest.mark.django_db


def _home(client_for, user) -> str:
    response = client_for(user).get(reverse("home"))
    assert response.status_code == 200
    return response.content.decode()


def _tile_number(page: str, tile: str) -> str:
    found = re.search(rf'id="glance-{tile}"[^>]*><span class="glance-n">([^<]+)</span>', page)
    assert found, f"no {tile} tile"
    return found.group(1)


def test_an_end_user_sees_their_latest_chats_newest_first_and_nothing_of_the_queue(
    client_for, end_user, expert
):
    mine = [conversation(end_user, title=f"chat {n}") for n in range(7)]
    for c in mine:  # each touched in turn: the last is the newest
        turn(c, user=end_user, question=f"In {c.title}?")
    api = Conversation.objects.create(user=end_user, title="from my app", source="api")
    conversation(expert, title="not yours")
    page = _home(client_for, end_user)
    listed = re.findall(r'<a href="/chat/c/([0-9a-f-]+)/">([^<]+)</a>', page)
    assert [title for _, title in listed] == [f"chat {n}" for n in (6, 5, 4, 3, 2)]
    assert {cid for cid, _ in listed} == {str(c.id) for c in mine[2:]}
    assert "from my app" not in page and "not yours" not in page and str(api.id) not in page
    assert "Waiting for you" not in page and 'href="/review/"' not in page


def test_with_no_chats_the_page_says_how_to_start(client_for, end_user):
    page = _home(client_for, end_user)
    assert "No chats yet" in page and f'href="{reverse("chat:home")}"' in page


def test_an_expert_sees_the_queue_then_the_item_they_hold_and_what_is_assigned_to_them(
    client_for, end_user, expert, lead
):
    turns = [make_turn(end_user, question=f"Question {n}?") for n in range(3)]
    page = _home(client_for, expert)
    assert _tile_number(page, "queue") == "3" and _tile_number(page, "assigned") == "0"
    assert 'id="glance-disputes"' not in page and 'id="glance-releases"' not in page

    annotation_services.queue_items_assign(turn_ids=[turns[0].id], reviewer=expert, actor=lead)
    assert _tile_number(_home(client_for, expert), "assigned") == "1"

    held = annotation_services.queue_claim_next(expert=expert)
    page = _home(client_for, expert)
    assert _tile_number(page, "held") == "1" and _tile_number(page, "queue") == "3"
    assert f'href="{reverse("annotations:item", args=[held.id])}"' in page
    assert held.turn.question in page


def test_a_lead_sees_disputes_and_releases_another_lead_built_for_approval(
    client_for, end_user, expert, lead, lead2
):
    turns = [make_turn(end_user, question=f"Question {n}?") for n in range(2)]
    QueueItem.objects.filter(turn=turns[0]).update(state=QueueItem.State.DISPUTED)
    Release.objects.create(name="faq", version=1, state=Release.State.BUILT, built_by=lead2)
    Release.objects.create(name="faq", version=2, state=Release.State.DRAFT, created_by=lead)
    page = _home(client_for, lead)
    assert _tile_number(page, "disputes") == "1" and _tile_number(page, "queue") == "1"
    assert _tile_number(page, "releases") == "1" and "Latest: faq v2" in page
    assert _tile_number(_home(client_for, lead2), "releases") == "0"  # four eyes: not their own


@pytest.mark.parametrize("role", ["end_user", "expert", "lead"])
def test_every_link_on_the_home_page_opens_for_its_viewer(client_for, request, role):
    user = request.getfixturevalue(role)
    turn(conversation(user, title="mine"), user=user)  # their chats are listed too
    client = client_for(user)
    page = client.get(reverse("home")).content.decode()
    links = set(re.findall(r'href="(/[^"#]*)"', page)) - {reverse("logout")}
    assert len(links) > 3
    for link in sorted(links):
        if link.startswith("/static/"):
            continue
        assert client.get(link).status_code == 200, link
