from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "datasets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from datasets.services import RELEASE_BUILD_JOB
        from reviewhub import jobs

        jobs.register(RELEASE_BUILD_JOB)
