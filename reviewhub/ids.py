"""Ids for rows made in bulk on hot write paths (ingestion): UUIDv7 (RFC 9562), whose first
48 bits are the creation time in milliseconds, so the ids of one batch sort together.

A random uuid4 key puts each new row on a random page of every index keyed by it: at 500
interactions a request, every page of such an index was rewritten by every commit (SQLite
wrote ~1,100 pages of WAL per request at 13,000 interactions, and more as the tables grow;
PostgreSQL logs a full-page image of each page first touched after a checkpoint). v7 ids
append to the right-hand edge of the index instead. They are still unguessable enough for
ids (74 random bits) and are plain `uuid.UUID` values: the columns and the API are unchanged.
Ids a client sends (an interaction's `id`) are kept as they come.
"""

from __future__ import annotations

from uuid6 import uuid7

__all__ = ["uuid7"]
