from django.contrib import admin

from chat.models import Conversation, Feedback, PromptTemplate, Topic, Turn, TurnContext


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "is_active", "created_at")
    list_filter = ("name", "is_active")


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("__str__", "user", "source", "updated_at")
    list_filter = ("source",)
    list_select_related = ("user",)
    raw_id_fields = ("user",)


class TurnContextInline(admin.TabularInline):
    model = TurnContext
    fields = ("rank", "score", "title", "text")
    extra = 0


@admin.register(Turn)
class TurnAdmin(admin.ModelAdmin):
    list_display = ("__str__", "user", "model", "grounded", "status", "created_at")
    list_filter = ("status", "grounded", "source", "model")
    list_select_related = ("user",)
    raw_id_fields = ("conversation", "user", "replay_of", "prompt_template")
    search_fields = ("question",)
    inlines = [TurnContextInline]
    show_full_result_count = False


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ("turn", "user", "rating", "updated_at")
    list_filter = ("rating",)
    raw_id_fields = ("turn", "user")
