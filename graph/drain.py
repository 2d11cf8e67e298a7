"""The outbox drain: claim pending rows, project them, mark them synced.

`drain()` claims pending outbox rows with a compare-and-set (rows whose entity is being
worked on by another drain are left alone), writes them, and marks them synced only
after the graph accepted the writes; on failure the rows get `attempts + 1` and
`last_error`, the claim is released and the error propagates so Celery retries with
capped backoff. Rows stay in the outbox until the graph has them. A bad row (one the
graph or SQL refuses on its own) is found by splitting its batch and quarantined after a
few attempts while every other row keeps flowing (`drain`).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from graph.cypher import is_transient
from graph.projection import sync
from graph.schema import ENTITIES
from outbox.models import OutboxEntry

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=10)
# A row that fails on its own (its batch was split until it alone failed) this many times
# is quarantined: it stops being claimed, shows in `graph_check` and on the analytics
# page, and waits for a lead's retry after a fix (outbox.services.outbox_retry).
QUARANTINE_AFTER = 3


class DrainError(Exception):
    """Some rows failed on their own; the rest were synced. Raised at the end of a drain
    so Celery retries later (each retry is one more attempt for those rows)."""


def claim(batch_size: int, exclude: Iterable[int] = ()) -> tuple[str, list[tuple[int, str, str]]]:
    """Claim up to `batch_size` pending rows (compare-and-set on claim/claimed_until);
    returns the claim token and (row id, entity, entity id) of each row claimed.

    Rows whose entity another drain is working on right now are skipped, so two workers
    never write the same entity concurrently (the later change would otherwise race the
    earlier one). Quarantined rows and `exclude` (rows this drain saw fail) are not
    claimed."""
    now, token = timezone.now(), uuid.uuid4().hex
    claimable = _claimable(now) & ~Q(id__in=list(exclude))
    with transaction.atomic():
        busy = set(
            OutboxEntry.objects.filter(synced_at=None, claimed_until__gte=now).values_list(
                "entity", "entity_id"
            )
        )
        # Rows that already failed go last, so one poisoned row cannot hold up fresh ones
        # (order does not matter otherwise: every write reads the current SQL state).
        candidates = (
            OutboxEntry.objects.filter(claimable)
            .order_by("attempts", "id")
            .values_list("id", "entity", "entity_id")[: batch_size + len(busy)]
        )
        pks = [pk for pk, entity, eid in candidates if (entity, eid) not in busy][:batch_size]
        if pks:
            OutboxEntry.objects.filter(claimable, id__in=pks).update(
                claim=token, claimed_until=now + CLAIM_LEASE
            )
    rows = list(
        OutboxEntry.objects.filter(claim=token, synced_at=None).values_list(
            "id", "entity", "entity_id"
        )
    )
    return token, rows


def _claimable(now) -> Q:
    """Pending rows no live drain holds (its lease not run out), quarantined ones aside."""
    return Q(synced_at=None, quarantined_at=None) & (
        Q(claimed_until=None) | Q(claimed_until__lt=now)
    )


def process(rows: Iterable[tuple[int, str, str]]) -> None:
    grouped: dict[str, set[str]] = defaultdict(set)
    for _, entity, entity_id in rows:
        grouped[entity].add(entity_id)
    for entity in ENTITIES:
        if grouped.get(entity):
            sync(entity, grouped[entity])


def drain(batch_size: int = 500, time_budget: float | None = None) -> int:
    """Sync pending outbox rows to the graph; returns how many rows were synced.

    A batch that fails is split in halves until the rows that fail on their own are found
    (`isolate_failures`); every other row is synced. Those rows get `attempts + 1` and
    their error, are quarantined after QUARANTINE_AFTER attempts, and are not claimed
    again by this drain, which ends raising DrainError if any of them is not quarantined
    yet (Celery retries with backoff). An outage (graph or database unreachable) is not a
    bad row: the whole batch is released with `attempts + 1` and the error propagates."""
    deadline = time.monotonic() + time_budget if time_budget else None
    synced = 0
    failed: dict[int, BaseException] = {}
    while True:
        token, rows = claim(batch_size, exclude=failed)
        if not rows:
            break
        claimed = OutboxEntry.objects.filter(claim=token, synced_at=None)
        try:
            bad = isolate_failures(rows, process)
        except Exception as exc:  # an outage or a conflict: nothing can be told apart
            claimed.update(
                attempts=F("attempts") + 1,
                last_error=repr(exc)[:2000],
                claim="",
                claimed_until=None,
            )
            raise
        for (pk, _, _), exc in bad:
            _record_failure(pk, exc)
            failed[pk] = exc
        synced += claimed.update(synced_at=timezone.now(), claim="", claimed_until=None)
        if deadline and time.monotonic() > deadline:
            break
    retrying = OutboxEntry.objects.filter(id__in=list(failed), quarantined_at=None).count()
    if retrying:
        first = next(iter(failed.values()))
        raise DrainError(f"{retrying} outbox row(s) failed and will be retried: {first!r}")
    return synced


def isolate_failures(items: list, run: Callable[[list], None]) -> list[tuple[object, Exception]]:
    """Run `run(items)`; if it fails, split the items in halves and run each, down to the
    single items that fail on their own. Returns (item, error) for those; every other item
    has been run. An outage or a transient conflict (`is_outage`, `is_transient`) is
    raised: it says nothing about an item, and the whole batch is tried again later."""
    try:
        with _savepoint():
            run(items)
        return []
    except Exception as exc:
        if is_outage(exc) or is_transient(exc):
            raise
        if len(items) == 1:
            return [(items[0], exc)]
    middle = len(items) // 2
    return isolate_failures(items[:middle], run) + isolate_failures(items[middle:], run)


def _savepoint():
    """Inside a transaction, a savepoint: on PostgreSQL a refused read would otherwise leave
    it unusable for the halves that follow. At the top level (the worker's drain) nothing:
    each read commits on its own, and a transaction there would, on SQLite (BEGIN
    IMMEDIATE), hold the database's write lock for the whole graph write while every
    ingest request waited behind it."""
    if transaction.get_connection().in_atomic_block:
        return transaction.atomic()
    return nullcontext()


def is_outage(exc: BaseException) -> bool:
    """The graph or the database could not be reached (as opposed to a row they refuse)."""
    from django.db import InterfaceError, OperationalError
    from neo4j.exceptions import DriverError

    return isinstance(exc, DriverError | OSError | OperationalError | InterfaceError)


def _record_failure(pk: int, exc: BaseException) -> None:
    with transaction.atomic():
        row = OutboxEntry.objects.select_for_update().get(pk=pk)
        row.attempts += 1
        row.last_error = repr(exc)[:2000]
        row.claim, row.claimed_until = "", None
        if row.attempts >= QUARANTINE_AFTER:
            row.quarantined_at = timezone.now()
            log.warning("outbox row %s:%s quarantined: %r", row.entity, row.entity_id, exc)
        row.save(
            update_fields=["attempts", "last_error", "claim", "claimed_until", "quarantined_at"]
        )


def pending_count() -> int:
    """Rows not in the graph yet (quarantined ones wait for a retry)."""
    return OutboxEntry.objects.filter(synced_at=None, quarantined_at=None).count()


def claimable_count() -> int:
    """Pending rows a drain starting now could claim: none that a live drain holds (it
    writes them; if it fails it releases them and its task is retried, if its worker dies
    the lease runs out and the periodic drain takes them)."""
    return OutboxEntry.objects.filter(_claimable(timezone.now())).count()


def prune(older_than: timedelta = timedelta(days=7)) -> int:
    cutoff = timezone.now() - older_than
    return OutboxEntry.objects.filter(synced_at__lt=cutoff).delete()[0]
