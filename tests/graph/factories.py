"""Test data through the ORM, recorded in the outbox like the real services do."""

from __future__ import annotations

import hashlib
import itertools
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from graph import outbox

_seq = itertools.count()


@transaction.atomic
def document(title: str = "Doc", chunks: int = 2, source: str = ""):
    from knowledge.models import Chunk, Document

    n = next(_seq)
    text = f"{title} body {n}"
    doc = Document.objects.create(
        title=title,
        source=source or f"kb/{title}-{n}.md",
        text=text,
        checksum=hashlib.sha256(text.encode()).hexdigest(),
    )
    Chunk.objects.bulk_create(
        Chunk(document=doc, index=i, text=f"{title} chunk {i}") for i in range(chunks)
    )
    outbox.record("document", [doc.id])
    return doc


@transaction.atomic
def conversation(user, title: str = "conv"):
    from chat.models import Conversation

    conv = Conversation.objects.create(user=user, title=title)
    outbox.record("conversation", [conv.id])
    return conv


@transaction.atomic
def turn(
    conv,
    *,
    question: str = "What is it?",
    answer: str = "It is.",
    contexts=(),
    topic=None,
    replay_of=None,
    grounded: bool = True,
    days_ago: int = 0,
    model: str = "m1",
):
    """contexts: (chunk_or_None, score[, text, source]) in rank order."""
    from chat.models import Turn, TurnContext

    position = conv.turns.count()
    at = timezone.now() - timedelta(days=days_ago)
    t = Turn.objects.create(
        conversation=conv,
        user=conv.user,
        position=position,
        question=question,
        answer=answer,
        grounded=grounded,
        topic=topic,
        replay_of=replay_of,
        created_at=at,
        completed_at=at,
        model=model,
    )
    for rank, ctx in enumerate(contexts, start=1):
        chunk, score, *rest = ctx
        text = rest[0] if rest else (chunk.text if chunk else "external passage")
        source = rest[1] if len(rest) > 1 else "https://example.com/page"
        TurnContext.objects.create(
            turn=t, chunk=chunk, rank=rank, score=score, text=text, source=source, title="t"
        )
    outbox.record("turn", [t.id])
    return t


@transaction.atomic
def feedback(t, user, rating: str = "down", comment: str = ""):
    from chat.models import Feedback

    f = Feedback.objects.create(turn=t, user=user, rating=rating, comment=comment)
    outbox.record("feedback", [f.id])
    return f


@transaction.atomic
def example(t, approver=None):
    from annotations.models import Example

    e = Example.objects.create(
        turn=t,
        question=t.question,
        answer=t.answer,
        original_answer=t.answer,
        approved_at=timezone.now(),
        approved_by=approver,
        grounded=t.grounded,
        model=t.model,
    )
    outbox.record("example", [e.id])
    return e


@transaction.atomic
def topic(name: str, keywords=()):
    from chat.models import Topic

    tp = Topic.objects.create(name=name, keywords=list(keywords))
    outbox.record("topic", [tp.id])
    return tp
