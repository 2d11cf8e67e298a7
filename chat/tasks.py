from celery import shared_task

from reviewhub.celery import retrying


@shared_task(acks_late=True, **retrying())
def assign_topics() -> int:
    """Periodic: give questions without a topic one (keyword rules, chat.topics)."""
    from chat.topics import assign_topics as assign

    return assign()
