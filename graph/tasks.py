from celery import shared_task

from reviewhub.celery import retrying


@shared_task(acks_late=True, **retrying())
def drain_outbox() -> int:
    """Push pending outbox rows to the graph (idempotent MERGEs, so acks_late is safe).

    A failure leaves the rows pending and raises, so Celery retries with capped backoff;
    a long backlog is worked off in time-boxed slices that re-enqueue themselves.
    """
    from graph.connection import configure
    from graph.sync import drain, pending_count

    configure()
    synced = drain(time_budget=120)
    if pending_count():
        drain_outbox.delay()
    return synced


@shared_task(acks_late=True, **retrying())
def graph_maintenance() -> dict:
    """Periodic: drain leftovers (e.g. rows whose enqueue was lost), reconcile SQL with
    the graph and repair differences, prune old synced outbox rows."""
    from graph.connection import configure
    from graph.sync import drain, prune, reconcile

    configure()
    synced = drain(time_budget=120)
    report = reconcile(fix=True)
    return {"synced": synced, "differences": report.differences(), "pruned": prune()}


@shared_task(acks_late=True, **retrying())
def assign_topics() -> int:
    """Periodic: give questions without a topic one (keyword rules, graph.topics)."""
    from graph.topics import assign_topics as assign

    return assign()
