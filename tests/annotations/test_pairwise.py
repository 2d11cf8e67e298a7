"""Blind pairwise comparisons in the review queue: two answers to one question, the sides
drawn per pair and recorded, "A better / tie / B better", the expert never told which is which."""

from __future__ import annotations

import random
import re
import uuid

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from annotations import pairwise
from annotations.models import PairwiseItem
from tests import factories

pytestmark = pytest.mark.django_db

BATCH = uuid.UUID("11111111-2222-3333-4444-555555555555")


def _pairs(user, n: int, *, model_first="secret-model-one", model_second="secret-model-two"):
    """n questions, each answered by two set-ups ("first" says right, "second" says wrong)."""
    out = []
    for i in range(n):
        question = factories.turn(
            user=user, question=f"What port does Bolt use, case {i}?", model=model_first
        )
        first = factories.turn(
            user=user, question=question.question, answer=f"Port 7687 ({i}).", model=model_first
        )
        second = factories.turn(
            user=user, question=question.question, answer=f"Port 1234 ({i}).", model=model_second
        )
        out.append(pairwise.Pair(question.pk, first.pk, second.pk))
    return out


def test_sides_are_drawn_per_pair_recorded_and_a_pair_is_sent_once(end_user):
    pairs = _pairs(end_user, 30)
    sent = pairwise.pairwise_send(
        batch=BATCH, first_key="0", second_key="1", pairs=pairs, rng=random.Random(7)
    )
    assert sent == 30
    flips = list(PairwiseItem.objects.values_list("flipped", flat=True))
    assert 5 < sum(flips) < 25  # both orders occur
    again = pairwise.pairwise_send(batch=BATCH, first_key="0", second_key="1", pairs=pairs)
    assert again == 0 and PairwiseItem.objects.count() == 30
    assert flips == list(PairwiseItem.objects.values_list("flipped", flat=True))  # kept


def test_the_expert_sees_a_and_b_but_never_which_set_up_gave_which(end_user, expert, client_for):
    pairwise.pairwise_send(batch=BATCH, first_key="0", second_key="1", pairs=_pairs(end_user, 1))
    client = client_for(expert)
    home = client.get(reverse("annotations:home")).content.decode()
    assert "1 pair of answers waiting" in home
    response = client.post(reverse("annotations:pair_next"))
    item = PairwiseItem.objects.get()
    assert response["Location"] == reverse("annotations:pair", args=[item.pk])
    html = client.get(response["Location"]).content.decode()
    shown_a, shown_b = item.shown
    assert html.index(shown_a.answer) < html.index(shown_b.answer)  # A first, as drawn
    for secret in ("secret-model", str(BATCH), str(item.first_id), str(item.second_id)):
        assert secret not in html
    assert "lineage" not in html  # lineage would name the model
    assert 'id="btn-a"' in html and 'id="btn-tie"' in html and 'id="btn-b"' in html


@pytest.mark.parametrize("flipped", [False, True])
def test_a_verdict_is_kept_as_seen_and_in_the_senders_terms(end_user, expert, flipped):
    pairwise.pairwise_send(batch=BATCH, first_key="0", second_key="1", pairs=_pairs(end_user, 1))
    PairwiseItem.objects.update(flipped=flipped)
    item = pairwise.pairwise_claim_next(expert=expert)
    judged = pairwise.pairwise_judge(item_id=item.pk, expert=expert, verdict="a")
    assert judged.verdict == "a"
    assert judged.preferred == ("second" if flipped else "first")
    wins_for_second = 1 if flipped else 0
    assert pairwise.preferences(BATCH)[("0", "1")] == {
        "wins": wins_for_second,
        "ties": 0,
        "losses": 1 - wins_for_second,
        "waiting": 0,
    }


def test_judging_moves_on_to_the_next_pair_and_ends_with_a_message(end_user, expert, client_for):
    pairwise.pairwise_send(batch=BATCH, first_key="0", second_key="1", pairs=_pairs(end_user, 2))
    client = client_for(expert)
    first = client.post(reverse("annotations:pair_next"))["Location"]
    second = client.post(first.rstrip("/") + "/submit/", {"verdict": "b"})["Location"]
    assert second != first and "/review/pairs/" in second
    last = client.post(second.rstrip("/") + "/submit/", {"verdict": "tie"}, follow=True)
    assert "Saved: tie. No pairs left to compare" in last.content.decode()
    assert sorted(PairwiseItem.objects.values_list("verdict", flat=True)) == ["b", "tie"]
    assert set(PairwiseItem.objects.values_list("decided_by", flat=True)) == {expert.pk}


def test_a_bad_verdict_is_refused_and_nothing_is_stored(end_user, expert, client_for):
    pairwise.pairwise_send(batch=BATCH, first_key="0", second_key="1", pairs=_pairs(end_user, 1))
    client = client_for(expert)
    url = client.post(reverse("annotations:pair_next"))["Location"]
    response = client.post(url.rstrip("/") + "/submit/", {"verdict": "first"})
    assert response.status_code == 400 and "Choose A better, tie or B better" in (
        response.content.decode()
    )
    assert PairwiseItem.objects.get().verdict == ""


def test_two_experts_never_hold_the_same_pair_and_cannot_read_each_others(
    end_user, expert, expert2, client_for
):
    pairwise.pairwise_send(batch=BATCH, first_key="0", second_key="1", pairs=_pairs(end_user, 1))
    mine = pairwise.pairwise_claim_next(expert=expert)
    assert pairwise.pairwise_claim_next(expert=expert2) is None
    url = reverse("annotations:pair", args=[mine.pk])
    assert client_for(expert2).get(url).status_code == 404
    refused = client_for(expert2).post(url + "submit/", {"verdict": "a"})
    assert refused.status_code == 404 and PairwiseItem.objects.get().verdict == ""
    with pytest.raises(pairwise.PairwiseError, match="lease"):
        pairwise.pairwise_judge(item_id=mine.pk, expert=expert2, verdict="a")
    # put down: back in the queue for anyone
    client_for(expert).post(url + "skip/", {"then": "queue"})
    assert pairwise.pairwise_claim_next(expert=expert2).pk == mine.pk


def test_end_users_have_no_pairwise_queue(end_user, client_for):
    pairwise.pairwise_send(batch=BATCH, first_key="0", second_key="1", pairs=_pairs(end_user, 1))
    client = client_for(end_user)
    assert client.post(reverse("annotations:pair_next")).status_code == 403
    item = PairwiseItem.objects.get()
    assert client.get(reverse("annotations:pair", args=[item.pk])).status_code == 403


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_compare_on_a_phone_with_the_keyboard(
    roles_seeded, live_server, page, browser_login, end_user, expert
):
    pairwise.pairwise_send(batch=BATCH, first_key="0", second_key="1", pairs=_pairs(end_user, 2))
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    browser_login(page, expert)
    page.goto(f"{live_server.url}/review/")
    page.keyboard.press("c")  # compare answers
    page.wait_for_url(re.compile(r"/review/pairs/"))
    a, b = page.locator("#answer-a").bounding_box(), page.locator("#answer-b").bounding_box()
    assert b["y"] >= a["y"] + a["height"] - 1 and b["width"] <= 390  # stacked, no side scroll
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    first_url = page.url
    page.keyboard.press("b")  # B is better, then the next pair
    page.wait_for_url(lambda url: url != first_url and "/review/pairs/" in url)
    page.locator("#btn-tie").click()  # or a tap on the button
    expect(page.locator(".messages")).to_contain_text("No pairs left to compare")
    assert sorted(PairwiseItem.objects.values_list("verdict", flat=True)) == ["b", "tie"]
