from django.apps import AppConfig


class GraphConfig(AppConfig):
    name = "graph"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The graph owns the set of entities it projects; the outbox accepts those names.
        from graph.schema import ENTITIES
        from outbox import registry

        registry.register(*ENTITIES)
