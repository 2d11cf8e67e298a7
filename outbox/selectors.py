"""Outbox reads."""

from __future__ import annotations

from django.db.models import QuerySet

from outbox.models import OutboxEntry


def quarantined() -> QuerySet[OutboxEntry]:
    """Rows the drain gave up on (see graph.drain), newest first."""
    return OutboxEntry.objects.filter(synced_at=None, quarantined_at__isnull=False).order_by(
        "-quarantined_at", "-id"
    )
