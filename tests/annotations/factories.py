"""Test data through the plain ORM (the chat services are another app's), then the queue
through our real services."""

from __future__ import annotations

import itertools
from datetime import timedelta

from django.utils import timezone

from annotations.models import Criterion, Guideline, Rubric, Tag
from annotations.services import queue_refresh
from chat.models import Conversation, Feedback, Turn, TurnContext

_seq = itertools.count(1)


def make_turn(
    user,
    *,
    question: str | None = None,
    answer: str = "The answer is 42.",
    grounded: bool = True,
    score: float | None = 0.9,
    model: str = "gpt-test",
    topic=None,
    feedback: str | None = None,
    feedback_user=None,
    conversation=None,
    position: int = 0,
    prompt_messages: list | None = None,
    system_prompt: str = "You are a helpful assistant.",
    rendered_context: str = "",
    age_minutes: int = 0,
    refresh: bool = True,
) -> Turn:
    n = next(_seq)
    conversation = conversation or Conversation.objects.create(user=user, title=f"c{n}")
    turn = Turn.objects.create(
        conversation=conversation,
        user=user,
        position=position,
        question=question or f"Question number {n}?",
        answer=answer,
        grounded=grounded,
        max_context_score=score if grounded else None,
        model=model,
        topic=topic,
        system_prompt=system_prompt,
        rendered_context=rendered_context,
        prompt_messages=prompt_messages or [],
        created_at=timezone.now() - timedelta(minutes=age_minutes),
    )
    if grounded:
        TurnContext.objects.create(
            turn=turn, rank=1, score=score, text="Port 7687 is Bolt.", title="Bolt docs"
        )
    if feedback:
        Feedback.objects.create(
            turn=turn,
            user=feedback_user or user,
            rating=feedback,
            comment="not helpful" if feedback == "down" else "",
        )
    if refresh:
        queue_refresh(turn_ids=[turn.id])
    return turn


def make_rubric(*, tags: tuple[str, ...] = ("outdated", "hallucination", "tone")) -> Rubric:
    rubric = Rubric.objects.create(name=f"default {next(_seq)}")
    for position, (key, label) in enumerate(
        [
            ("correctness", "Correctness"),
            ("groundedness", "Groundedness"),
            ("helpfulness", "Helpfulness"),
        ]
    ):
        Criterion.objects.create(
            rubric=rubric,
            key=key,
            label=label,
            position=position,
            scale_min=1,
            scale_max=5,
            required=key != "helpfulness",
        )
    for name in tags:
        Tag.objects.create(rubric=rubric, name=name)
    Guideline.objects.get_or_create(
        title="Be strict",
        defaults={"body": "Approve only **correct** answers. <script>alert(1)</script>"},
    )
    return rubric


GOOD = {"correctness": 5, "groundedness": 4, "helpfulness": 4}
