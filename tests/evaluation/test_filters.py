"""Score filters ("groundedness >= 0.8") in release definitions and the review queue."""

from __future__ import annotations

import pytest
from django.utils import timezone

from annotations.selectors import QueueFilters, claimable
from chat.models import Turn
from datasets.forms import ReleaseForm
from datasets.selectors import examples_matching
from evaluation import services
from evaluation.selectors import ScoreFilterError, score_filter_q
from tests.factories import make_example

pytestmark = pytest.mark.django_db

GOOD = "Every paid instance takes a daily snapshot that is kept for seven days."
BAD = "Every paid instance takes a daily snapshot that is kept for nine days."


def test_a_score_filter_selects_turns_by_their_score(log_turn):
    good, bad = log_turn("Q?", GOOD), log_turn("Q?", BAD)
    services.online_scan()
    selected = set(Turn.objects.filter(score_filter_q("groundedness >= 0.8")))
    assert selected == {good}
    assert set(Turn.objects.filter(score_filter_q("groundedness < 0.5"))) == {bad}


@pytest.mark.parametrize(
    ("expression", "message"),
    [("groundednes >= 0.8", "No evaluator scores 'groundednes'"), ("groundedness", "criterion >=")],
)
def test_a_bad_score_filter_is_a_clear_error(log_turn, expression, message):
    log_turn("Q?", GOOD)
    services.online_scan()
    with pytest.raises(ScoreFilterError, match=message):
        score_filter_q(expression)


def test_a_release_definition_filters_examples_by_evaluator_score(end_user, lead):
    examples = [make_example(end_user) for _ in range(3)]
    services.builtin_evaluators_ensure()
    version = services.Evaluator.objects.get(builtin="groundedness").current
    services.scores_store(
        [
            {
                "turn_id": e.turn_id,
                "evaluator_version_id": version.id,
                "criterion": "groundedness",
                "value": v,
                "normalized": v,
            }
            for e, v in zip(examples, (0.9, 0.85, 0.3), strict=True)
        ]
    )
    assert set(examples_matching({"eval_scores": "groundedness >= 0.8"})) == set(examples[:2])


def test_a_release_form_with_an_unknown_criterion_says_so(end_user):
    form = ReleaseForm(
        {
            "name": "r",
            "version": 1,
            "validation_fraction": 0.1,
            "seed": 0,
            "formats": ["openai_chat"],
            "eval_scores": "helpfulnes >= 0.8",
        }
    )
    assert not form.is_valid()
    assert "No evaluator scores 'helpfulnes'" in form.errors["eval_scores"][0]


def test_the_review_queue_filters_by_the_lowest_evaluator_score(log_turn, expert):
    log_turn("Q?", GOOD)
    bad = log_turn("Q?", BAD)
    services.online_scan()
    items = claimable(expert=expert, now=timezone.now(), filters=QueueFilters(max_eval_score=0.5))
    assert [i.turn_id for i in items] == [bad.id]
