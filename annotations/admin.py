from django.contrib import admin

from annotations.models import (
    AuditEvent,
    Criterion,
    Example,
    Guideline,
    PairwiseItem,
    QueueItem,
    Review,
    Rubric,
    Tag,
)


@admin.register(Example)
class ExampleAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "corrected", "approved_by", "approved_at")
    list_filter = ("status", "corrected", "grounded")
    raw_id_fields = ("turn",)
    search_fields = ("question",)
    list_select_related = ("approved_by",)


def _in_use(rubric) -> bool:
    return rubric is not None and rubric.reviews.exists()


class _FrozenOnceUsed:
    """A rubric version reviews were made with is read-only here: its reviews keep the
    criteria they were scored against (edits go through /review/rubric/, which saves a
    new version)."""

    def has_change_permission(self, request, obj=None):
        return not _in_use(obj) and super().has_change_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return not _in_use(obj) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not _in_use(obj) and super().has_delete_permission(request, obj)


class CriterionInline(_FrozenOnceUsed, admin.TabularInline):
    model = Criterion
    extra = 0
    fields = ("position", "key", "label", "scale_min", "scale_max", "required", "help_text")


class TagInline(_FrozenOnceUsed, admin.TabularInline):
    model = Tag
    extra = 0


@admin.register(Rubric)
class RubricAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "is_active", "created_at")
    list_filter = ("is_active",)
    readonly_fields = ("version", "previous", "created_by")
    inlines = [CriterionInline, TagInline]

    def has_change_permission(self, request, obj=None):
        return not _in_use(obj) and super().has_change_permission(request, obj)


@admin.register(Guideline)
class GuidelineAdmin(admin.ModelAdmin):
    list_display = ("title", "position", "is_active", "updated_at")
    list_editable = ("position", "is_active")


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ("id", "reviewer", "verdict", "created_at")
    list_filter = ("verdict", "rubric")
    list_select_related = ("reviewer",)
    raw_id_fields = ("item", "reviewer")
    search_fields = ("notes", "corrected_answer")


@admin.register(QueueItem)
class QueueItemAdmin(admin.ModelAdmin):
    list_display = ("id", "state", "priority", "reviews_done", "holder", "lease_expires_at")
    list_filter = ("state", "feedback", "grounded")
    list_select_related = ("holder",)
    raw_id_fields = ("turn", "holder", "author", "topic")
    show_full_result_count = False  # a COUNT(*) over the whole queue on every page is slow


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "item")
    list_filter = ("action",)
    list_select_related = ("actor",)
    raw_id_fields = ("item", "actor")

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the audit trail is append-only

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PairwiseItem)
class PairwiseItemAdmin(admin.ModelAdmin):
    list_display = ("id", "batch", "first_key", "second_key", "flipped", "verdict", "decided_by")
    list_filter = ("verdict", "preferred")
    raw_id_fields = ("question", "first", "second", "holder", "decided_by")
    list_select_related = ("decided_by",)
