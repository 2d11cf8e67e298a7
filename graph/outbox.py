"""The one way to tell the graph that something changed.

Call `record()` inside the transaction that makes the change. Entities:
user, conversation, turn, feedback, document, review, example, release, topic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from graph.models import OutboxEntry
from reviewhub import bulk

ENTITIES = {
    "user",
    "conversation",
    "turn",
    "feedback",
    "document",
    "review",
    "example",
    "release",
    "topic",
}


def record(entity: str, ids: Iterable[object]) -> int:
    if entity not in ENTITIES:
        raise ValueError(f"unknown graph entity {entity!r}")
    now = timezone.now()
    rows = [{"entity": entity, "entity_id": str(pk), "created_at": now} for pk in ids]
    if not rows:
        return 0
    for start in range(0, len(rows), 1000):  # plain executemany: ~5× cheaper than bulk_create
        bulk.insert(OutboxEntry, rows[start : start + 1000])
    transaction.on_commit(_schedule_drain)
    return len(rows)


# Enqueueing a drain per committed change cost ~1 ms on every logged turn. Instead a
# process enqueues at most one drain per COALESCE_S, due DRAIN_DELAY_S later: a change
# committed inside the window is committed before that drain starts, so it is covered.
COALESCE_S = 0.5
DRAIN_DELAY_S = 1.0
_last_enqueued = float("-inf")


def _schedule_drain() -> None:
    global _last_enqueued
    from graph.tasks import drain_outbox

    now = time.monotonic()
    if now - _last_enqueued < COALESCE_S:
        return
    try:
        drain_outbox.apply_async(countdown=DRAIN_DELAY_S)
        _last_enqueued = now
    except Exception:  # broker down: the rows wait; the periodic drain picks them up
        logging.getLogger(__name__).warning("could not enqueue graph drain", exc_info=True)
