from django.apps import AppConfig


class TopicsConfig(AppConfig):
    name = "topics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from reviewhub import jobs
        from topics.services import DISCOVERY_JOB

        jobs.register(DISCOVERY_JOB)
