from celery import shared_task


@shared_task(ignore_result=True)
def jobs_sweep() -> dict:
    """Periodic: recover jobs whose worker vanished and send jobs still waiting for one."""
    from reviewhub.jobs import job_sweep

    return job_sweep()
