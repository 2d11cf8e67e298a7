"""Graph-related writes. They change SQL and record the outbox; the graph follows."""

from __future__ import annotations

from django.db import transaction

from annotations.services import queue_refresh
from graph import outbox


@transaction.atomic
def turn_set_topic(*, turn, topic) -> None:
    """An expert's choice of topic for a question (None clears it)."""
    new_id = topic.pk if topic else None
    if turn.topic_id == new_id:
        return
    turn.topic_id = new_id
    turn.save(update_fields=["topic"])
    outbox.record("turn", [turn.pk])
    queue_refresh(turn_ids=[turn.pk])  # the queue filters by topic too
