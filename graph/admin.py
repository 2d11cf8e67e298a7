from django.contrib import admin

from graph.models import OutboxEntry


@admin.register(OutboxEntry)
class OutboxEntryAdmin(admin.ModelAdmin):
    list_display = ("entity", "entity_id", "created_at", "attempts", "synced_at")
    list_filter = ("entity",)
    readonly_fields = ("entity", "entity_id", "created_at", "attempts", "last_error", "synced_at",
                       "claim", "claimed_until")
