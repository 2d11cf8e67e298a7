"""The one way to tell a projection (the graph) that something changed.

Call `record(entity, ids)` inside the transaction that makes the change; the rows commit
or roll back with it. Entities are short names ("turn", "review", …). Which names exist
is decided by the projection that reads them: it registers them at start-up
(`outbox.registry.register`, done by `graph.apps`), so a misspelt name fails loudly at
the call, while this app stays on the floor and imports no domain app. To add an entity,
give the graph a writer for it (graph/projection.py) and record it where it changes.

After commit a drain is enqueued *by task name*, so this app does not import the graph.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from outbox import registry
from outbox.models import OutboxEntry
from reviewhub import bulk

DRAIN_TASK = "graph.tasks.drain_outbox"


def record(entity: str, ids: Iterable[object]) -> int:
    registry.check(entity)
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
    from reviewhub.celery import app

    now = time.monotonic()
    if now - _last_enqueued < COALESCE_S:
        return
    try:
        app.send_task(DRAIN_TASK, countdown=DRAIN_DELAY_S)
        _last_enqueued = now
    except Exception:  # broker down: the rows wait; the periodic drain picks them up
        logging.getLogger(__name__).warning("could not enqueue graph drain", exc_info=True)


@transaction.atomic
def outbox_retry(*, ids: Iterable[int]) -> int:
    """Put quarantined rows back in the drain (after the bad data or the code was fixed):
    attempts start again; the last error stays for reference until a drain succeeds.
    Returns how many rows were released."""
    released = OutboxEntry.objects.filter(
        id__in=list(ids), synced_at=None, quarantined_at__isnull=False
    ).update(quarantined_at=None, attempts=0, claim="", claimed_until=None)
    if released:
        transaction.on_commit(_schedule_drain)
    return released
