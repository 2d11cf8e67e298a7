from celery import shared_task


@shared_task(acks_late=True)
def bulk_job_run(job_id: str) -> None:
    """Run a confirmed bulk action; safe to redeliver (the claim is a compare-and-set on the
    job's lease, and a resumed run starts after the last turn done). Not retried: a failed
    run shows where it stopped and why, and a person can confirm it again."""
    from workspace.services import bulk_job_run as run

    run(job_id=job_id)
