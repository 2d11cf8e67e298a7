from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat.services import INGEST_JOB
        from reviewhub import jobs

        jobs.register(INGEST_JOB)
