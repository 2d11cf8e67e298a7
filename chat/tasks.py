from celery import shared_task

from reviewhub.celery import retrying


@shared_task(acks_late=True, **retrying(max_retries=3))
def replay_run(job_id: str) -> None:
    """Run a replay job; safe to redeliver (turns already replayed by the job are skipped)."""
    from chat.services import replay_job_run

    replay_job_run(job_id=job_id)


@shared_task(acks_late=True, **retrying())
def assign_topics() -> int:
    """Periodic: give questions without a topic one (keyword rules, chat.topics)."""
    from chat.topics import assign_topics as assign

    return assign()
