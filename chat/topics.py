"""Topics for questions: keyword rules from `Topic.keywords`.

Method (deterministic, explainable, no model download):

1. A question and each keyword are lower-cased and split into word tokens
   (`[a-z0-9]+`); a keyword may be a phrase ("refund policy").
2. A topic's score for a question is the number of its keywords that occur in the
   question as whole tokens (a phrase must occur as consecutive tokens), each keyword
   counted once; a phrase counts as many points as it has words (more specific).
3. The topic with the highest score wins; ties go to the topic whose name sorts first.
   A question with no matching keyword gets no topic.

The result is stored as `Turn.topic` and reaches the graph as `(question)-[:ABOUT]->(Topic)`
through the outbox. `assign_topics()` only fills turns without a topic unless asked to
redo all, so an expert's manual choice (`chat.services.turn_set_topic`) is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db import transaction

from chat.models import Topic, Turn
from chat.signals import turns_changed
from outbox.services import record

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
    """Assign a topic to questions (only those without one unless `redo`).
    Returns how many turns changed."""
    topics = list(Topic.objects.all())
    if not topics:
        return 0
    qs = Turn.objects.order_by("created_at", "id")
    if not redo:
        qs = qs.filter(topic=None)
    changed = 0
    last = None
    while True:
        page = qs.filter(id__gt=last) if last else qs
        batch = list(page.order_by("id").only("id", "question", "topic_id")[:batch_size])
        if not batch:
            return changed
        last = batch[-1].id
        updates = []
        for turn in batch:
            topic = best_topic(turn.question, topics)
            new_id = topic.id if topic else None
            if new_id != turn.topic_id and (topic or redo):
                turn.topic_id = new_id
                updates.append(turn)
        if updates:
            with transaction.atomic():
                Turn.objects.bulk_update(updates, ["topic"])
                ids = [t.id for t in updates]
                record("turn", ids)
                turns_changed.send(sender=Turn, turn_ids=ids)  # the queue filters by topic
            changed += len(updates)
