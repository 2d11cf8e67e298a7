from __future__ import annotations

from django.db import models


class OutboxEntry(models.Model):
    """A change a projection (the graph) must reflect, written in the same transaction as
    the change.

    Rows stay until the projection has them (`synced_at` set), so a graph outage only
    delays the graph; the drain reads the current SQL state of the entity.
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
    # Set when the row failed on its own too often (graph.drain.QUARANTINE_AFTER): it is
    # no longer claimed until a lead retries it after a fix (outbox_retry).
    quarantined_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The table the graph app created: the model moved here, the rows stayed.
        db_table = "graph_outboxentry"
        indexes = [models.Index(fields=["synced_at", "id"], name="graph_outbo_synced__e94dc3_idx")]
        verbose_name_plural = "outbox entries"

    def __str__(self) -> str:
        return f"{self.entity}:{self.entity_id}"
