from django.apps import AppConfig


class ReviewhubConfig(AppConfig):
    name = "reviewhub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        import reviewhub.lookups  # noqa: F401 (registers `__among` on UUIDField)
        from reviewhub.sqlite_wal import on_connection_created

        connection_created.connect(on_connection_created, dispatch_uid="reviewhub.sqlite_wal")
