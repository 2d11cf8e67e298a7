from django.contrib import admin, messages

from chat.models import (
    ApiToken,
    Conversation,
    Feedback,
    IngestBatch,
    PromptTemplate,
    Topic,
    Turn,
    TurnContext,
)
from chat.prompts import prompt_template_new_version
from outbox.admin import RecordsChanges


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin):
    """A template that turns already used is never edited: saving it makes a new version."""

    list_display = ("name", "version", "is_active", "created_at", "created_by")
    list_filter = ("name", "is_active")
    fields = ("name", "version", "system_prompt", "context_template", "chunk_template", "is_active")

    def get_readonly_fields(self, request, obj=None):
        return ("name", "version") if obj else ("version",)

    def save_model(self, request, obj, form, change):
        if change and Turn.objects.filter(prompt_template_id=obj.pk).exists():
            old_version = obj.version
            new = prompt_template_new_version(
                base=obj,
                system_prompt=obj.system_prompt,
                context_template=obj.context_template,
                chunk_template=obj.chunk_template,
                user=request.user,
            )
            obj.pk, obj.version, obj.created_by = new.pk, new.version, new.created_by
            self.message_user(
                request,
                f"Version {old_version} is in use by logged turns, so your "
                f"changes were saved as version {new.version}.",
                messages.INFO,
            )
            return
        if not change:
            latest = PromptTemplate.objects.filter(name=obj.name).order_by("-version").first()
            obj.version = latest.version + 1 if latest else 1
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("user", "prefix", "token_hash", "created_at", "last_used_at")
    list_select_related = ("user",)


@admin.register(Topic)
class TopicAdmin(RecordsChanges, admin.ModelAdmin):
    outbox_entity = "topic"
    list_display = ("name", "method", "pinned", "created_at")
    list_filter = ("method", "pinned")
    search_fields = ("name",)
    fields = ("name", "keywords", "pinned", "method", "named_by", "terms")
    readonly_fields = ("method", "named_by", "terms")


@admin.register(Conversation)
class ConversationAdmin(RecordsChanges, admin.ModelAdmin):
    outbox_entity = "conversation"
    list_display = ("__str__", "user", "source", "updated_at")
    list_filter = ("source",)
    list_select_related = ("user",)
    raw_id_fields = ("user",)


class TurnContextInline(admin.TabularInline):
    """The passages as sent: part of the logged prompt (chat.prompt_storage rebuilds the
    prompt from them), so shown, never edited."""

    model = TurnContext
    fields = ("rank", "score", "title", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Turn)
class TurnAdmin(RecordsChanges, admin.ModelAdmin):
    outbox_entity = "turn"
    list_display = ("__str__", "user", "model", "grounded", "status", "created_at")
    list_filter = ("status", "grounded", "source", "model")
    list_select_related = ("user",)
    raw_id_fields = ("conversation", "user", "replay_of", "prompt_template")
    search_fields = ("question",)
    # What the model was sent is a record: the production prompt is rebuilt from these.
    readonly_fields = ("question", "system_prompt", "rendered_context", "prompt_messages")
    inlines = [TurnContextInline]
    show_full_result_count = False


@admin.register(Feedback)
class FeedbackAdmin(RecordsChanges, admin.ModelAdmin):
    outbox_entity = "feedback"
    list_display = ("turn", "user", "rating", "updated_at")
    list_filter = ("rating",)
    raw_id_fields = ("turn", "user")


@admin.register(IngestBatch)
class IngestBatchAdmin(admin.ModelAdmin):
    """Batches accepted with `Prefer: respond-async`: a record, read-only (the worker and
    the jobs sweeper move them on; a failed one keeps its payload)."""

    list_display = ("id", "user", "items", "status", "stored", "existing", "created_at")
    list_filter = ("status",)
    list_select_related = ("user",)
    fields = (
        "user",
        "items",
        "status",
        "stored",
        "existing",
        "errors",
        "error",
        "job_note",
        "attempts",
        "created_at",
        "finished_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
