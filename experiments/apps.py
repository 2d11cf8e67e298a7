from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "experiments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from experiments.services import EXPERIMENT_JOB
        from reviewhub import jobs

        jobs.register(EXPERIMENT_JOB)
