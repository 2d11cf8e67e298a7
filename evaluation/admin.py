from django.contrib import admin

from evaluation.models import BackfillJob, Evaluator, EvaluatorVersion, Score


@admin.register(Evaluator)
class EvaluatorAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "builtin", "sampling_rate", "hourly_cap", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)


@admin.register(EvaluatorVersion)
class EvaluatorVersionAdmin(admin.ModelAdmin):
    list_display = ("evaluator", "version", "model", "created_at")
    # A version with scores is immutable; changes go through evaluation.services.
    readonly_fields = [f.name for f in EvaluatorVersion._meta.fields]


@admin.register(Score)
class ScoreAdmin(admin.ModelAdmin):
    list_display = ("turn", "evaluator_version", "criterion", "value", "error", "updated_at")
    list_filter = ("criterion",)
    raw_id_fields = ("turn", "evaluator_version")
    readonly_fields = [f.name for f in Score._meta.fields]


@admin.register(BackfillJob)
class BackfillJobAdmin(admin.ModelAdmin):
    list_display = ("evaluator_version", "status", "done", "total", "failed", "created_at")
    readonly_fields = [f.name for f in BackfillJob._meta.fields]
