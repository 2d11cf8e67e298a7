from celery import shared_task

from reviewhub.celery import retrying


@shared_task(acks_late=True, **retrying())  # idempotent: only queues turns without an item
def queue_backfill() -> int:
    from annotations.services import queue_backfill as backfill

    return backfill()
