"""What chat tells the apps above it, without importing them.

`turns_changed` is sent by the chat services inside the transaction that logged, ingested,
replayed, rated or re-topicked turns (keyword `turn_ids`). Apps that keep something derived
from turns connect a receiver in their AppConfig.ready() — the review queue does
(annotations.apps) — so chat stays below them in the import layers. A receiver's error
propagates, so the change rolls back with it, as when chat called the queue directly.
"""

from django.dispatch import Signal

turns_changed = Signal()
