"""reviewhub.sqlite_wal: on SQLite, the write-ahead log is copied into the database file by a
thread of the process, not inside the commits that made it."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

import pytest
from django.db import connection

from outbox.models import OutboxEntry
from reviewhub import bulk, sqlite_wal

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's log")


def _in_database_file(path: str, prefix: str) -> int:
    """Rows whose entity_id starts with prefix in the database file alone (the log ignored)."""
    db = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return db.execute(
            "SELECT count(*) FROM graph_outboxentry WHERE entity_id LIKE ?", (prefix + "%",)
        ).fetchone()[0]
    finally:
        db.close()


@pytest.mark.django_db(transaction=True)
def test_committed_rows_reach_the_database_file_by_the_checkpoint_thread() -> None:
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone()[0] == sqlite_wal.BACKSTOP_PAGES  # commits checkpoint late
    now = datetime(2026, 11, 26, tzinfo=UTC)
    rows = [
        {"entity": "turn", "entity_id": f"wal-{i}-" + "x" * 200, "created_at": now}
        for i in range(3000)  # ~1,000 pages of log: SQLite's own mark
    ]
    bulk.insert(OutboxEntry, rows)
    assert OutboxEntry.objects.filter(entity_id__startswith="wal-").count() == 3000

    path = str(connection.settings_dict["NAME"])
    deadline = time.monotonic() + 10
    while _in_database_file(path, "wal-") < 3000:
        assert time.monotonic() < deadline, "the log was not checkpointed within 10 s"
        time.sleep(0.2)
