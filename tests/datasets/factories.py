"""Approved examples straight through the ORM (the review flow is another app's)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from django.utils import timezone

from annotations.models import Example
from chat.models import Conversation, Turn

_n = itertools.count(1)
SYSTEM = "You are the support assistant. Answer from the context.\n\nContext:\n[1] Snapshots\n{ctx}"


def make_example(
    user,
    *,
    question: str | None = None,
    answer: str | None = None,
    original_answer: str | None = None,
    corrected: bool = False,
    grounded: bool = True,
    tags=None,
    scores=None,
    topic=None,
    approved_at: datetime | None = None,
    messages=None,
    reviewers=(),
    conversation: Conversation | None = None,
) -> Example:
    n = next(_n)
    question = question if question is not None else f"Question number {n} about topic {n * 7}?"
    answer = answer if answer is not None else f"Answer {n}: do step {n} then step {n + 1}."
    original = (
        original_answer
        if original_answer is not None
        else (f"Old answer {n}." if corrected else answer)
    )
    conversation = conversation or Conversation.objects.create(user=user, title=f"c{n}")
    system = SYSTEM.format(ctx=f"Restore snapshot {n} from the console.")
    if messages is None:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    turn = Turn.objects.create(
        conversation=conversation,
        user=user,
        question=question,
        answer=original,
        created_at=timezone.now(),
        grounded=grounded,
        system_prompt=system,
        prompt_messages=messages,
    )
    example = Example.objects.create(
        turn=turn,
        messages=messages,
        system_prompt=system,
        question=question,
        answer=answer,
        original_answer=original,
        corrected=corrected,
        grounded=grounded,
        model="m-1",
        topic=topic,
        tags=tags or [],
        scores=scores or {"accuracy": 4.0},
        approved_at=approved_at or timezone.now() - timedelta(days=1),
    )
    if reviewers:
        example.reviewers.set(reviewers)
    return example


def make_examples(user, count: int, **kwargs) -> list[Example]:
    conversation = Conversation.objects.create(user=user, title="bulk")
    return [make_example(user, conversation=conversation, **kwargs) for _ in range(count)]
