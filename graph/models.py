from __future__ import annotations

from django.db import models


class OutboxEntry(models.Model):
    """A change the graph must reflect, written in the same transaction as the change.

    Rows stay until the graph has them (`synced_at` set), so a graph outage only
    delays the graph; the drain task reads the current SQL state of the entity.
    """

    entity = models.CharField(max_length=30)
    entity_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    # A drain claims rows with a compare-and-set on these, so two workers never
    # process the same row; an expired claim (a crashed worker) is claimable again.
    claim = models.CharField(max_length=32, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["synced_at", "id"])]

    def __str__(self) -> str:
        return f"{self.entity}:{self.entity_id}"
