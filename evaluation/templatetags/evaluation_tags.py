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
