import logging

from django.apps import AppConfig
from django.db.models.signals import post_migrate

log = logging.getLogger(__name__)


def _search_index_repair(sender, using: str = "default", **kwargs) -> None:
    from workspace.search import sqlite_index_repair

    if sqlite_index_repair(using):
        log.warning("search index: its triggers were missing; rebuilt from the tables")


class WorkspaceConfig(AppConfig):
    name = "workspace"
    verbose_name = "Workspace (explorer, bulk actions, inbox, settings)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from reviewhub import jobs
        from workspace.services import BULK_JOB

        jobs.register(BULK_JOB)
        post_migrate.connect(_search_index_repair, sender=self)
