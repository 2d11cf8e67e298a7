"""Team settings edited by leads in the app, and the inbox."""

from __future__ import annotations

import pytest

from annotations.models import QueueItem
from annotations.services import queue_claim_next, review_submit
from chat.services import DailyLimitReached, check_daily_limit
from reviewhub.preferences import preference
from tests.factories import make_rubric, make_turn

pytestmark = pytest.mark.django_db

SCORES = {"correctness": 4, "groundedness": 4, "helpfulness": 4}


def save_settings(client, **values):
    data = {
        "reviews_required": 1,
        "blind_review": "on",
        "release_four_eyes": "on",
        "daily_question_limit": 25,
    } | values
    data = {k: v for k, v in data.items() if v is not False}
    return client.post("/settings/", data)


def review(expert, verdict="approve"):
    item = queue_claim_next(expert=expert)
    return review_submit(item_id=item.pk, reviewer=expert, scores=SCORES, tags=[], verdict=verdict)


def test_the_deployment_setting_holds_until_a_lead_saves_one(settings, client_for, lead):
    settings.REVIEWS_REQUIRED = 3
    assert preference("reviews_required") == 3
    assert save_settings(client_for(lead), reviews_required=2).status_code == 302
    assert preference("reviews_required") == 2


def test_two_reviews_required_keeps_an_item_open_after_one_review(
    client_for, lead, end_user, expert, expert2
):
    make_rubric()
    turn = make_turn(end_user)
    save_settings(client_for(lead), reviews_required=2)
    review(expert)
    assert QueueItem.objects.get(turn=turn).state == "pending"
    review(expert2, verdict="reject")  # a different verdict: a dispute for a lead
    assert QueueItem.objects.get(turn=turn).state == "disputed"


def test_one_review_required_resolves_at_once(client_for, lead, end_user, expert):
    make_rubric()
    turn = make_turn(end_user)
    save_settings(client_for(lead), reviews_required=1)
    review(expert)
    assert QueueItem.objects.get(turn=turn).state == "approved"


def test_blind_review_off_shows_earlier_reviews_to_the_next_reviewer(
    client_for, lead, end_user, expert, expert2
):
    make_rubric()
    make_turn(end_user)
    save_settings(client_for(lead), reviews_required=2, blind_review=False)
    review(expert)
    item = queue_claim_next(expert=expert2)
    page = client_for(expert2).get(f"/review/item/{item.pk}/").content.decode()
    assert "<td>erin</td><td>correctness 4" in page and "<td>erin</td><td>Approved" in page
    save_settings(client_for(lead), reviews_required=2, blind_review="on")
    page = client_for(expert2).get(f"/review/item/{item.pk}/").content.decode()
    assert "correctness 4" not in page and "<td>erin</td><td>Approved" not in page


def test_the_daily_limit_set_in_the_app_applies_to_the_chat(client_for, lead, end_user):
    save_settings(client_for(lead), daily_question_limit=1)
    make_turn(end_user)
    from chat.models import Turn

    assert Turn.objects.filter(user=end_user).count() == 1
    with pytest.raises(DailyLimitReached):
        check_daily_limit(end_user)


def test_bad_settings_are_refused_and_nothing_changes(client_for, lead):
    response = save_settings(client_for(lead), reviews_required=0, daily_question_limit=-1)
    assert response.status_code == 200
    assert "greater than or equal to 1" in response.content.decode()
    assert preference("reviews_required") == 1


def test_only_leads_change_settings(client_for, expert):
    assert save_settings(client_for(expert), reviews_required=3).status_code == 403
    assert preference("reviews_required") == 1


# --- inbox --------------------------------------------------------------------------


def test_assigned_items_show_in_the_inbox_with_a_count_in_the_navigation(
    client_for, end_user, lead, expert
):
    make_turn(end_user, question="please check this one")
    client_for(lead).post(
        "/explore/bulk/", {"q": "check", "action": "assign", "reviewer": expert.username}
    )
    client = client_for(expert)
    page = client.get("/inbox/").content.decode()
    assert "please check this one" in page
    assert '<span class="badge warn" id="inbox-count">1</span>' in page
    review_page = client.get("/review/").content.decode()
    assert 'id="inbox-count">1<' in review_page


def test_a_lead_sees_disputes_and_releases_another_lead_built(client_for, end_user, lead, lead2):
    from datasets.models import Release

    item = make_turn(end_user, question="argued about").queue_item
    QueueItem.objects.filter(pk=item.pk).update(state="disputed")
    Release.objects.create(name="mine", state="built", built_by=lead, formats=[])
    Release.objects.create(name="theirs", state="built", built_by=lead2, formats=[])
    page = client_for(lead).get("/inbox/").content.decode()
    assert "argued about" in page and "theirs v1" in page and "mine v1" not in page
    assert 'id="inbox-count">2<' in page


def test_leads_see_reviewer_progress_and_an_empty_inbox_says_so(client_for, end_user, lead, expert):
    make_rubric()
    make_turn(end_user)
    review(expert)
    page = client_for(lead).get("/inbox/").content.decode()
    assert "Reviewers this week" in page and "<td>erin</td><td>1</td><td>1</td>" in page
    empty = client_for(end_user).get("/inbox/").content.decode()
    assert "Nothing is assigned to you." in empty and "Reviewers this week" not in empty
