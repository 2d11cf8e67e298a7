from django.contrib import admin

from knowledge.models import Chunk, Document


class ChunkInline(admin.TabularInline):
    model = Chunk
    fields = ("index", "text")
    readonly_fields = ("index", "text")
    extra = 0
    can_delete = False


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "source", "updated_at")
    search_fields = ("title", "source")
    inlines = [ChunkInline]
