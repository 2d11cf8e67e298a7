from django.contrib import admin

from annotations.models import Example


@admin.register(Example)
class ExampleAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "corrected", "approved_by", "approved_at")
    list_filter = ("status", "corrected", "grounded")
    raw_id_fields = ("turn",)
    search_fields = ("question",)
