"""The one way to tell the graph that something changed.

Call `record()` inside the transaction that makes the change. Entities:
user, conversation, turn, feedback, document, review, example, release, topic.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from graph.models import OutboxEntry

ENTITIES = {
    "user", "conversation", "turn", "feedback", "document",
    "review", "example", "release", "topic",
}


def record(entity: str, ids: Iterable[object]) -> int:
    if entity not in ENTITIES:
        raise ValueError(f"unknown graph entity {entity!r}")
    rows = [OutboxEntry(entity=entity, entity_id=str(pk)) for pk in ids]
    if not rows:
        return 0
    OutboxEntry.objects.bulk_create(rows, batch_size=1000)
    transaction.on_commit(_schedule_drain)
    return len(rows)


def _schedule_drain() -> None:
    from graph.tasks import drain_outbox

    try:
        drain_outbox.delay()
    except Exception:  # broker down: the rows wait; the periodic drain picks them up
        import logging

        logging.getLogger(__name__).warning("could not enqueue graph drain", exc_info=True)
