"""The outbox moved from the graph app to its own: a database migrated before the move
keeps its pending rows, and they are the new app's rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("graph", "0002_outbox_claim"), ("outbox", None)]


@pytest.mark.django_db(transaction=True)
def test_rows_written_before_the_move_are_still_pending_after_it():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO graph_outboxentry (entity, entity_id, created_at, attempts, "
            "last_error, claim) VALUES ('turn', 'abc', CURRENT_TIMESTAMP, 2, 'boom', '')"
        )
    executor = MigrationExecutor(connection)  # reload the graph of applied migrations
    executor.migrate(executor.loader.graph.leaf_nodes())

    from outbox.models import OutboxEntry

    row = OutboxEntry.objects.get()
    assert (row.entity, row.entity_id, row.attempts, row.last_error) == ("turn", "abc", 2, "boom")
    assert row.synced_at is None
    assert OutboxEntry._meta.db_table == "graph_outboxentry"
