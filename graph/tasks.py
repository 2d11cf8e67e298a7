from celery import shared_task

from reviewhub.celery import retrying


@shared_task(acks_late=True, **retrying())
def drain_outbox() -> int:
    """Push pending outbox rows to the graph (idempotent MERGEs, so acks_late is safe)."""
    from graph.sync import drain

    return drain()
