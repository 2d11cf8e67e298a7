"""Blind review through the API: with two reviewers per item, the `reviews` field of
GET /api/v1/interactions/<id> hides the other reviewer's scores and notes while the item is open."""

import pytest

from annotations import services as review_services
from annotations.models import QueueItem
from chat import services
from tests.factories import GOOD, make_rubric


@pytest.fixture
def get_reviews(client):
    def call(user, turn_id):
        token = services.api_token_create(user=user, name="t")[1]
        response = client.get(
            f"/api/v1/interactions/{turn_id}", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        assert response.status_code == 200, response.content
        return response.json()["reviews"]

    return call


def _review(reviewer, notes: str, scores=GOOD, verdict="approve") -> QueueItem:
    item = review_services.queue_claim_next(expert=reviewer)
    review_services.review_submit(
        item_id=item.pk, reviewer=reviewer, scores=scores, tags=[], verdict=verdict, notes=notes
    )
    return QueueItem.objects.get(pk=item.pk)


def _ingest(end_user) -> str:
    item = {"question": "How do I restore?", "answer": "Choose Restore.", "model": "m"}
    turn, *_ = services.interactions_ingest(user=end_user, items=[item])
    return str(turn[1])


@pytest.mark.django_db
def test_an_expert_sees_no_other_reviewers_scores_or_notes_while_the_item_is_open(
    get_reviews, end_user, expert, expert2, lead, settings
):
    settings.REVIEWS_REQUIRED = 2
    make_rubric()
    turn_id = _ingest(end_user)
    item = _review(expert, "secret-note-from-erin")
    assert item.state == QueueItem.State.PENDING  # one more review needed: still open

    # evan claims the item but has not reviewed it: erin's review is hidden from him...
    assert review_services.queue_claim_next(expert=expert2).pk == item.pk
    assert get_reviews(expert2, turn_id) == []
    # ...and from the end user who asked, while erin sees her own only
    assert get_reviews(end_user, turn_id) == []
    assert [r["notes"] for r in get_reviews(expert, turn_id)] == ["secret-note-from-erin"]
    # a lead who does not hold the item sees every review
    assert [r["reviewer"] for r in get_reviews(lead, turn_id)] == ["erin"]

    # once evan has submitted his own, he sees both
    review_services.review_submit(
        item_id=item.pk, reviewer=expert2, scores=GOOD, tags=[], verdict="approve", notes="mine"
    )
    assert QueueItem.objects.get(pk=item.pk).state == QueueItem.State.APPROVED
    assert {r["notes"] for r in get_reviews(expert2, turn_id)} == {"secret-note-from-erin", "mine"}
    assert len(get_reviews(end_user, turn_id)) == 2  # decided: the owner sees them too


@pytest.mark.django_db
def test_a_lead_holding_an_open_item_reviews_it_blind_through_the_api(
    get_reviews, end_user, expert, lead, settings
):
    settings.REVIEWS_REQUIRED = 2
    make_rubric()
    turn_id = _ingest(end_user)
    item = _review(expert, "secret-note-from-erin", verdict="reject")
    assert review_services.queue_claim_next(expert=lead).pk == item.pk
    assert get_reviews(lead, turn_id) == []
