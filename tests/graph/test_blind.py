"""Blind review on the lineage page and its JSON: while the item is open, a reviewer
sees only their own review node; other reviewers' verdicts and notes stay hidden."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from annotations import services
from annotations.models import QueueItem
from graph.drain import drain
from tests.factories import GOOD, make_rubric, make_turn

pytestmark = pytest.mark.django_db


def _review(user, verdict: str, notes: str):
    item = services.queue_claim_next(expert=user)
    services.review_submit(
        item_id=item.pk, reviewer=user, scores=GOOD, tags=[], verdict=verdict, notes=notes
    )


def _lineage(client, turn) -> tuple[str, dict]:
    page = client.get(reverse("graph:lineage", args=[turn.pk]))
    body = client.get(reverse("graph:lineage_json", args=[turn.pk]))
    assert page.status_code == 200 and body.status_code == 200
    return page.content.decode(), body.json()


def _reviewers(body: dict) -> set[str]:
    return {r["review"]["reviewer"] for r in body["lineage"]["reviews"]}


def test_lineage_hides_other_reviewers_while_the_item_is_open(
    clean_graph, settings, client_for, end_user, expert, expert2, lead, lead2
):
    settings.REVIEWS_REQUIRED = 3
    make_rubric()
    turn = make_turn(end_user)
    _review(expert, "reject", "erin-secret-note")
    _review(lead, "approve", "lena-secret-note")
    drain()
    assert QueueItem.objects.get().state == "pending"

    html, body = _lineage(client_for(expert), turn)
    assert _reviewers(body) == {"erin"}
    text = html + json.dumps(body)
    assert "lena-secret-note" not in text and "(lena)" not in text
    assert "1 review of this answer stays hidden" in html

    _, body = _lineage(client_for(end_user), turn)  # the asker is no reviewer
    assert _reviewers(body) == set() and body["lineage"]["hidden_reviews"] == 2
    _, body = _lineage(client_for(lead2), turn)  # a lead taking no part supervises
    assert _reviewers(body) == {"erin", "lena"}

    _review(expert2, "approve", "evan-note")  # the third review closes the item
    drain()
    html, body = _lineage(client_for(expert), turn)
    assert _reviewers(body) == {"erin", "lena", "evan"} and "stays hidden" not in html
