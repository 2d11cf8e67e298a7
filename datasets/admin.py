from django.contrib import admin

from datasets.models import Release, ReleaseItem


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "state", "built_by", "approved_by", "created_at")
    list_filter = ("state",)
    search_fields = ("name",)
    # State changes go through the services (four eyes, immutability), not the admin.
    readonly_fields = [f.name for f in Release._meta.fields]


@admin.register(ReleaseItem)
class ReleaseItemAdmin(admin.ModelAdmin):
    list_display = ("release", "position", "split", "example")
    list_filter = ("split",)
    raw_id_fields = ("release", "example")
    readonly_fields = [f.name for f in ReleaseItem._meta.fields]
