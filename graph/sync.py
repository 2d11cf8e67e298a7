"""Outbox drain. Issue #4 fills this in with batched UNWIND … MERGE per entity."""


def drain() -> int:
    return 0
