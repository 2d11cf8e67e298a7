"""The entity names the outbox accepts, registered by the projections that read them.

A registry rather than a fixed list here: the outbox is the floor every app writes to,
so it must not know the domain; the graph owns its schema and says which entities it
projects (graph/apps.py registers `graph.projection.SYNCERS`). Rejecting unknown names
at `record()` keeps a typo from becoming a row no drain can ever process.
"""

from __future__ import annotations

import re

NAME = re.compile(r"[a-z][a-z0-9_]{0,29}")  # fits OutboxEntry.entity (30 characters)
_entities: set[str] = set()


def register(*names: str) -> None:
    for name in names:
        if not NAME.fullmatch(name):
            raise ValueError(f"outbox entity names are short lower-case words, not {name!r}")
        _entities.add(name)


def entities() -> frozenset[str]:
    return frozenset(_entities)


def check(entity: str) -> None:
    if entity not in _entities:
        raise ValueError(
            f"unknown outbox entity {entity!r} (registered: {', '.join(sorted(_entities))})"
        )
