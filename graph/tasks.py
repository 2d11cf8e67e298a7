from celery import shared_task

from reviewhub.celery import retrying


# Enqueued by name from the outbox (outbox.services.DRAIN_TASK): keep the name stable.
@shared_task(name="graph.tasks.drain_outbox", acks_late=True, **retrying())
def drain_outbox() -> int:
    """Push pending outbox rows to the graph (idempotent MERGEs, so acks_late is safe).

    A failure leaves the rows pending and raises, so Celery retries with capped backoff;
    a long backlog is worked off in time-boxed slices that re-enqueue themselves. Rows
    another worker's drain holds are its to write: re-enqueueing for them made an idle
    worker run an empty drain every few milliseconds until the other one finished.
    """
    from graph.drain import claimable_count, drain
    from reviewhub.graphdb import configure

    configure()
    synced = drain(time_budget=120)
    if claimable_count():
        drain_outbox.delay()
    return synced


@shared_task(acks_late=True, **retrying())
def graph_maintenance() -> dict:
    """Periodic: drain leftovers (e.g. rows whose enqueue was lost), reconcile SQL with
    the graph and repair differences, prune old synced outbox rows."""
    from graph.drain import DrainError, drain, prune
    from graph.reconcile import reconcile
    from reviewhub.graphdb import configure

    configure()
    try:
        synced = drain(time_budget=120)
    except DrainError:  # bad rows wait for their own retry; the repair still runs
        synced = None
    report = reconcile(fix=True)
    return {"synced": synced, "differences": report.differences(), "pruned": prune()}
