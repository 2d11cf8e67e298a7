"""Review writes. Issue #3 owns this module.

Contract used by other apps (keep the signature):
- queue_refresh(turn_ids=[...]) — called by chat services in the same transaction whenever
  turns are logged/ingested/replayed or their feedback changes, so the queue's priority
  reflects the new signals. Must be cheap and bulk (ingestion calls it with 1,000 ids).
"""

from __future__ import annotations

from collections.abc import Iterable


def queue_refresh(*, turn_ids: Iterable[object]) -> None:
    return None
