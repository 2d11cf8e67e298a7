"""The review screen shows the evaluators' scores and reasons beside the rubric — after the
expert has submitted when blind review is on; end users never see judge scores."""

from __future__ import annotations

import pytest

from annotations.models import QueueItem
from annotations.services import queue_claim_next, review_submit
from evaluation import services
from tests.factories import GOOD, make_rubric

pytestmark = pytest.mark.django_db

BAD = "Every paid instance takes a daily snapshot that is kept for nine days."


def test_scores_are_hidden_until_the_expert_submits_then_shown_with_reasons(
    client_for, log_turn, expert
):
    make_rubric()
    turn = log_turn("How long are snapshots kept?", BAD)
    services.online_scan()
    item = queue_claim_next(expert=expert)
    assert item.turn_id == turn.id
    client = client_for(expert)
    before = client.get(f"/review/item/{item.pk}/").content.decode()
    assert "hidden until you submit your review" in before
    assert "sentences supported" not in before
    review_submit(item_id=item.pk, reviewer=expert, scores=GOOD, tags=[], verdict="reject")
    after = client.get(f"/review/item/{item.pk}/").content.decode()
    assert "0 of 1 sentences supported by the passages" in after
    assert "Groundedness v1" in after and "offline" in after


def test_with_blind_review_off_the_scores_show_at_once(client_for, log_turn, expert, settings):
    settings.EVAL_BLIND_REVIEW = False
    make_rubric()
    log_turn("How long are snapshots kept?", BAD)
    services.online_scan()
    item = queue_claim_next(expert=expert)
    page = client_for(expert).get(f"/review/item/{item.pk}/").content.decode()
    assert "0 of 1 sentences supported" in page


def test_end_users_never_see_judge_scores(client_for, log_turn, end_user, lead):
    judge = services.evaluator_create(name="J", created_by=lead)
    turn = log_turn("How long are snapshots kept?", BAD)
    services.scores_store(
        [
            {
                "turn_id": turn.id,
                "evaluator_version_id": judge.current.id,
                "criterion": "correctness",
                "value": 1.0,
                "normalized": 0.0,
                "reason": "JUDGE-REASON-MARKER",
            }
        ]
    )
    client = client_for(end_user)
    item = QueueItem.objects.get(turn=turn)
    assert client.get(f"/review/item/{item.pk}/").status_code == 403
    assert client.get("/evaluators/").status_code == 403
    page = client.get(f"/chat/c/{turn.conversation_id}/")
    assert "JUDGE-REASON-MARKER" not in page.content.decode()
