from django.contrib import admin

from knowledge.models import Chunk, Document
from outbox.admin import RecordsChanges


class ChunkInline(admin.TabularInline):
    model = Chunk
    fields = ("index", "text")
    readonly_fields = ("index", "text")
    extra = 0
    can_delete = False


@admin.register(Document)
class DocumentAdmin(RecordsChanges, admin.ModelAdmin):
    outbox_entity = "document"
    list_display = ("title", "source", "updated_at")
    search_fields = ("title", "source")
    inlines = [ChunkInline]
