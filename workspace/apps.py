from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    name = "workspace"
    verbose_name = "Workspace (explorer, bulk actions, inbox, settings)"
    default_auto_field = "django.db.models.BigAutoField"
