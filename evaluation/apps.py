from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "evaluation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from evaluation.services import BACKFILL_JOB
        from reviewhub import jobs

        jobs.register(BACKFILL_JOB)
