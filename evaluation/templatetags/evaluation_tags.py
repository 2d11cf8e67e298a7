"""`{% judge_scores %}`: the evaluators' scores and reasons of the page's `turn`, for the
review screen. With blind review on (EVAL_BLIND_REVIEW), they stay hidden from an expert
until they have submitted their own review, like the other reviewers' ratings."""

from __future__ import annotations

from django import template
from django.conf import settings

from evaluation.selectors import turn_scores

register = template.Library()


@register.inclusion_tag("evaluation/_scores.html", takes_context=True)
def judge_scores(context) -> dict:
    turn = context["turn"]
    revealed = (
        not settings.EVAL_BLIND_REVIEW
        or context.get("own_review") is not None
        or bool(context.get("reviews"))
    )
    scores = turn_scores([turn.id]).get(turn.id, []) if revealed else []
    return {"revealed": revealed, "scores": scores}


@register.simple_tag
def scores_for_pairs(pairs) -> dict:
    """{turn id: {(evaluator, criterion): Score}} for every turn of a replay comparison,
    in one query, for `score_diff`."""
    ids = [t.id for pair in pairs for t in pair if t is not None]
    return {
        turn_id: {(str(s.evaluator_version.evaluator), s.criterion): s for s in scores}
        for turn_id, scores in turn_scores(ids).items()
    }


@register.inclusion_tag("evaluation/_score_diff.html")
def score_diff(scores: dict, original, replayed) -> dict:
    """Both sides' scores per evaluator and criterion, and the difference (replay − original)."""
    left = scores.get(original.id, {})
    right = scores.get(replayed.id, {}) if replayed is not None else {}
    rows = []
    for key in sorted(set(left) | set(right)):
        a, b = left.get(key), right.get(key)
        va = a.value if a is not None else None
        vb = b.value if b is not None else None
        diff = vb - va if va is not None and vb is not None else None
        rows.append({"evaluator": key[0], "criterion": key[1], "a": va, "b": vb, "diff": diff})
    return {"rows": rows}
