"""Evaluator scores re-rank the review queue: low scores and judge-vs-thumbs disagreement first."""

from __future__ import annotations

import pytest

from annotations.models import QueueItem
from annotations.services import queue_claim_next
from chat.services import feedback_set
from evaluation import services

pytestmark = pytest.mark.django_db

GOOD = "Every paid instance takes a daily snapshot that is kept for seven days."
BAD = "Every paid instance takes a daily snapshot that is kept for nine days."


def test_a_low_groundedness_score_moves_an_answer_to_the_front(log_turn, expert, settings):
    good = log_turn("How long are snapshots kept?", GOOD)
    bad = log_turn("How long are snapshots kept?", BAD)
    before = dict(QueueItem.objects.values_list("turn_id", "priority"))
    assert before[good.id] == before[bad.id], "the same signals before scoring"
    services.online_scan()
    items = {i.turn_id: i for i in QueueItem.objects.all()}
    assert items[bad.id].eval_score < 0.5 <= items[good.id].eval_score
    weight = settings.REVIEW_PRIORITY_WEIGHTS["low_eval_score"]
    assert items[bad.id].priority == before[bad.id] + weight
    assert queue_claim_next(expert=expert).turn_id == bad.id


def test_thumbs_up_on_an_answer_the_judge_scores_low_is_a_disagreement(
    log_turn, end_user, settings
):
    bad = log_turn("How long are snapshots kept?", BAD)
    services.online_scan()
    low_only = QueueItem.objects.get(turn=bad).priority
    feedback_set(turn=bad, user=end_user, rating="up")
    weight = settings.REVIEW_PRIORITY_WEIGHTS["eval_disagrees_with_thumbs"]
    assert QueueItem.objects.get(turn=bad).priority == low_only + weight


def test_a_refusal_does_not_lower_the_priority_signal(log_turn):
    turn = log_turn("What is the SLA on Mars?", "I don't know; the documents do not say.")
    services.online_scan()
    assert QueueItem.objects.get(turn=turn).eval_score is None
