from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    name = "workspace"
    verbose_name = "Workspace (explorer, bulk actions, inbox, settings)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from reviewhub import jobs
        from workspace.services import BULK_JOB

        jobs.register(BULK_JOB)
