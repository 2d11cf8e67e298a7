from django.apps import AppConfig


class ReviewhubConfig(AppConfig):
    name = "reviewhub"
    default_auto_field = "django.db.models.BigAutoField"
