"""SQLite: WAL checkpoints in a thread of each writing process, not in the commits.

SQLite copies the write-ahead log back into the database file (a checkpoint) inside the
commit that takes the log past 1,000 pages, and with synchronous=NORMAL syncs both files
there. A 500-interaction ingestion request writes ~900 pages of log, so nearly every one
paid for a checkpoint before answering (~10 ms of a ~65 ms request on disk, issue #17).
Here each process that opens the database (web, worker) checkpoints it from a thread of
its own every `SQLITE_CHECKPOINT_S` seconds: commits only append to the log, and a page
rewritten by several commits in between is copied once. The connections keep SQLite's own
checkpoint at a higher mark (`BACKSTOP_PAGES`) in case the thread falls behind.

PASSIVE checkpoints never block readers or writers (the SQLite documentation's "wal.html":
checkpoints may run in a separate thread). `SQLITE_CHECKPOINT_S=0` leaves checkpoints to
SQLite, in the commits.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time

from django.conf import settings

log = logging.getLogger(__name__)

BACKSTOP_PAGES = 8000  # ~32 MB of log: a commit checkpoints only past this
_threads: dict[tuple[int, str], threading.Thread] = {}
_lock = threading.Lock()


def on_connection_created(sender, connection, **kwargs) -> None:
    """Django's connection_created: move this database's checkpoints to the thread."""
    interval = settings.SQLITE_CHECKPOINT_S
    if connection.vendor != "sqlite" or interval <= 0:
        return
    path = str(connection.settings_dict["NAME"])
    if path == ":memory:" or path.startswith("file:"):
        return  # in-memory: no log, nothing to checkpoint
    connection.connection.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    key = (os.getpid(), path)  # threads do not survive a fork: one per process
    with _lock:
        if key not in _threads or not _threads[key].is_alive():
            thread = threading.Thread(
                target=_checkpoint_forever,
                args=(path, interval),
                name=f"sqlite-checkpoint {os.path.basename(path)}",
                daemon=True,
            )
            _threads[key] = thread
            thread.start()


def _checkpoint_forever(path: str, interval: float) -> None:
    db = None
    while True:
        time.sleep(interval)
        try:
            if not os.path.exists(path):
                return  # the database was removed (a test run's): nothing left to do
            if db is None:
                db = sqlite3.connect(path, timeout=5, isolation_level=None)
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # busy, or the file went away: try again later
            log.debug("checkpoint of %s: %s", path, exc)
            if db is not None:
                db.close()
                db = None
