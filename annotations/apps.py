from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    name = "annotations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Chat sits below annotations and tells it about changed turns by a signal
        # (chat.signals), so the queue stays current without chat importing annotations.
        from annotations import receivers
        from chat.signals import turns_changed

        turns_changed.connect(receivers.refresh_queue, dispatch_uid="annotations.queue")
