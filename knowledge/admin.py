from django.contrib import admin

from graph.admin import RecordsGraphChanges
from knowledge.models import Chunk, Document


class ChunkInline(admin.TabularInline):
    model = Chunk
    fields = ("index", "text")
    readonly_fields = ("index", "text")
    extra = 0
    can_delete = False


@admin.register(Document)
class DocumentAdmin(RecordsGraphChanges, admin.ModelAdmin):
    graph_entity = "document"
    list_display = ("title", "source", "updated_at")
    search_fields = ("title", "source")
    inlines = [ChunkInline]
