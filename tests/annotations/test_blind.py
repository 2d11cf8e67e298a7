"""Blind review on the review screen and in what is exported: while an item is open, a
reviewer never sees another reviewer's scores, verdict or notes."""

import pytest
from django.urls import reverse

from annotations import services
from annotations.models import QueueItem
from datasets import selectors as release_selectors
from tests.factories import GOOD, make_rubric, make_turn

pytestmark = pytest.mark.django_db

ERIN = {"correctness": 2, "groundedness": 1, "helpfulness": 3}


def _review(user, verdict: str, notes: str, scores=GOOD):
    item = services.queue_claim_next(expert=user)
    return services.review_submit(
        item_id=item.pk, reviewer=user, scores=scores, tags=[], verdict=verdict, notes=notes
    )


@pytest.fixture
def open_item(settings, end_user, expert, lead):
    """An item that needs three reviews and has two: the expert's and a lead's."""
    settings.REVIEWS_REQUIRED = 3
    make_rubric()
    make_turn(end_user)
    _review(expert, "reject", "erin-secret-note", scores=ERIN)
    _review(lead, "approve", "lena-secret-note")
    item = QueueItem.objects.get()
    assert item.state == "pending" and item.reviews_done == 2
    return item


def _screen(client, item) -> str:
    response = client.get(reverse("annotations:item", args=[item.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_reviewer_who_submitted_still_sees_only_their_own_review_while_the_item_is_open(
    open_item, client_for, expert, lead
):
    html = _screen(client_for(expert), open_item)
    assert "erin-secret-note" in html  # their own
    assert "lena-secret-note" not in html and "correctness 5" not in html
    assert "1 other review of this item stays hidden" in html
    # the history shows no other reviewer's rating or verdict either
    history = html.split('id="history"')[1]
    assert history.count("Rated") == 1 and "Approved" not in history  # own rating only

    html = _screen(client_for(lead), open_item)  # a lead who reviewed it is a reviewer too
    assert "lena-secret-note" in html and "erin-secret-note" not in html
    history = html.split('id="history"')[1]
    assert "correctness 2" not in html and "Rejected" not in history
    assert history.count("Rated") == 1


def test_the_next_reviewer_sees_no_earlier_review(open_item, client_for, expert2):
    client = client_for(expert2)
    client.post(reverse("annotations:next"))
    open_item.refresh_from_db()
    assert open_item.holder == expert2
    html = _screen(client, open_item)
    for secret in ("erin-secret-note", "lena-secret-note", "correctness 2", "correctness 5"):
        assert secret not in html
    assert "2 other reviews of this item stay hidden" in html


def test_a_lead_taking_no_part_sees_every_review_and_everyone_does_once_closed(
    open_item, client_for, expert, expert2, lead2
):
    html = _screen(client_for(lead2), open_item)
    assert "erin-secret-note" in html and "lena-secret-note" in html
    _review(expert2, "approve", "evan-note")
    open_item.refresh_from_db()
    assert open_item.state != "pending"
    html = _screen(client_for(expert), open_item)
    assert "lena-secret-note" in html and "evan-note" in html and "stay hidden" not in html


def test_an_open_item_is_in_no_release_so_no_export_carries_its_reviews(open_item):
    assert not release_selectors.examples_matching({}).filter(turn=open_item.turn).exists()
