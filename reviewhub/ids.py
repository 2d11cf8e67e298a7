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

__all__ = ["UUID7_SQL", "uuid7"]

# The same, made by the database for rows it inserts from a SELECT (the review queue's items):
# 48 bits of Unix time in milliseconds, the version (7), random bits, the RFC variant. For a
# statement sent with parameters (a literal % is written %%).
UUID7_SQL = {
    # from a v4 (its variant kept): the first 6 bytes become the time, bits 52-53 make 4 a 7
    "postgresql": (
        "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing "
        "substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) "
        "FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid"
    ),
    # Django keeps a UUID in SQLite as 32 lowercase hex digits
    "sqlite": (
        "printf('%%012x', CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER))"
        " || '7' || substr(lower(hex(randomblob(2))), 2)"
        " || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(8))), 2)"
    ),
}
