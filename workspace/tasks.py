from celery import shared_task


@shared_task
def bulk_job_run(job_id: str) -> None:
    """Run a confirmed bulk action. Not retried: a half-done job shows where it stopped and
    why, and its batches are idempotent, so a person can confirm it again."""
    from workspace.services import bulk_job_run as run

    run(job_id=job_id)
