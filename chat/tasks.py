from celery import shared_task

from reviewhub.celery import retrying


@shared_task(acks_late=True, **retrying())
def assign_topics() -> int:
    """Periodic: give questions without a topic one (keyword rules, chat.topics)."""
    from chat.topics import assign_topics as assign

    return assign()


@shared_task(acks_late=True)
def ingest_batch_store(batch_id: str) -> None:
    """Store a batch the API accepted (`Prefer: respond-async`). Safe to redeliver: the claim
    is a compare-and-set on the batch's lease and every item carries its id. Not retried
    by Celery: a failed run hands the batch back to the sweeper (reviewhub.jobs)."""
    from chat.services import ingest_batch_store as store

    store(batch_id=batch_id)


@shared_task(acks_late=True, **retrying())
def prune_ingest_batches() -> int:
    """Periodic: drop the status records of batches stored a week ago (failed: a month)."""
    from chat.services import ingest_batches_prune

    return ingest_batches_prune()
