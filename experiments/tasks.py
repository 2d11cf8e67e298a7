from celery import shared_task

from reviewhub.celery import retrying


@shared_task(acks_late=True, **retrying(max_retries=5))
def run_experiment(experiment_id: str) -> None:
    """Run (or resume) an experiment; a redelivery answers only what is still unanswered."""
    from experiments.services import experiment_run

    experiment_run(experiment_id=experiment_id)
