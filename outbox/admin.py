from django.contrib import admin
from django.db import transaction

from outbox.models import OutboxEntry
from outbox.services import record


class RecordsChanges:
    """ModelAdmin mixin: edits and deletes made in the admin reach the graph like any other
    change, through an outbox row in the same transaction (set `outbox_entity`)."""

    outbox_entity: str

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            record(self.outbox_entity, [obj.pk])

    def delete_model(self, request, obj):
        with transaction.atomic():
            record(self.outbox_entity, [obj.pk])
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            record(self.outbox_entity, list(queryset.values_list("pk", flat=True)))
            super().delete_queryset(request, queryset)


@admin.register(OutboxEntry)
class OutboxEntryAdmin(admin.ModelAdmin):
    list_display = ("entity", "entity_id", "created_at", "attempts", "synced_at", "quarantined_at")
    list_filter = ("entity", ("quarantined_at", admin.EmptyFieldListFilter))
    readonly_fields = (
        "entity",
        "entity_id",
        "created_at",
        "attempts",
        "last_error",
        "synced_at",
        "claim",
        "claimed_until",
        "quarantined_at",
    )
