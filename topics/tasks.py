from celery import shared_task

from reviewhub.celery import retrying


@shared_task(acks_late=True, **retrying(max_retries=2))
def discover_topics(run_id: str) -> str:
    """Run a queued discovery; a redelivery finds the run claimed and does nothing."""
    from topics.services import discovery_run_execute

    return discovery_run_execute(run_id=run_id).status


@shared_task(acks_late=True, **retrying(max_retries=2))
def discover_topics_scheduled() -> str:
    """Periodic (CELERY_BEAT_SCHEDULE): queue a discovery run unless one is active."""
    from topics.services import discovery_run_create

    return str(discovery_run_create().pk)
