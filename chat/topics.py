"""Topics for questions: keyword rules from `Topic.keywords`.

Method (deterministic, explainable, no model download):

1. A question and each keyword are lower-cased and split into word tokens
   (`[a-z0-9]+`); a keyword may be a phrase ("refund policy").
2. A topic's score for a question is the number of its keywords that occur in the
   question as whole tokens (a phrase must occur as consecutive tokens), each keyword
   counted once; a phrase counts as many points as it has words (more specific).
3. The topic with the highest score wins; ties go to the topic whose name sorts first.
   A question with no matching keyword gets no topic.

The result is stored as a keyword `TopicMembership` (beside discovered and manual ones;
`Turn.topic` is the primary of them) and reaches the graph as
`(question)-[:ABOUT {method: 'keyword'}]->(Topic)` through the outbox. `assign_topics()` only
fills questions without a keyword topic unless asked to redo all; an expert's manual choice
(`turn_set_topic`) is a membership of its own and is never overwritten.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db import transaction

from chat.models import Topic, TopicMembership, Turn

TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def _occurs(phrase: list[str], words: list[str]) -> bool:
    n = len(phrase)
    return n > 0 and any(words[i : i + n] == phrase for i in range(len(words) - n + 1))


def score(question: str, keywords: Iterable[str]) -> int:
    words = tokens(question)
    total = 0
    for keyword in {k.strip().lower() for k in keywords if k and k.strip()}:
        phrase = tokens(keyword)
        if _occurs(phrase, words):
            total += len(phrase)
    return total


def best_topic(question: str, topics: list) -> object | None:
    """The best-scoring topic (objects with `.name` and `.keywords`), or None."""
    best, best_score = None, 0
    for topic in sorted(topics, key=lambda t: t.name):
        s = score(question, topic.keywords or [])
        if s > best_score:
            best, best_score = topic, s
    return best


def assign_topics(*, redo: bool = False, batch_size: int = 1000) -> int:
    """Give questions their keyword topic, as a keyword membership (only questions without
    one unless `redo`). An expert's choice is a manual membership, which wins as the primary
    topic and is never touched here. Returns how many questions changed."""
    from chat.services import turn_topics_refresh

    keyword = TopicMembership.Method.KEYWORD
    topics = [t for t in Topic.objects.filter(method=Topic.Method.KEYWORD) if t.keywords]
    qs = Turn.objects.all()
    if not redo:
        qs = qs.exclude(topic_memberships__method=keyword)
    changed = 0
    last = None
    while True:
        page = qs.filter(id__gt=last) if last else qs
        batch = list(page.order_by("id").values_list("id", "question")[:batch_size])
        if not batch:
            return changed
        last = batch[-1][0]
        current = dict(
            TopicMembership.objects.filter(
                turn_id__in=[turn_id for turn_id, _ in batch], method=keyword
            ).values_list("turn_id", "topic_id")
        )
        wanted = {}
        for turn_id, question in batch:
            topic = best_topic(question, topics)
            wanted[turn_id] = topic.id if topic else None
        touched = [t for t, topic_id in wanted.items() if topic_id != current.get(t)]
        if touched:
            with transaction.atomic():
                TopicMembership.objects.filter(turn_id__in=touched, method=keyword).delete()
                TopicMembership.objects.bulk_create(
                    TopicMembership(turn_id=t, topic_id=wanted[t], method=keyword)
                    for t in touched
                    if wanted[t]
                )
                turn_topics_refresh(turn_ids=touched)
            changed += len(touched)
