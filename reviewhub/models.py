from __future__ import annotations

from django.conf import settings
from django.db import models


class SiteSettings(models.Model):
    """Team settings leads change in the app (one row, pk=1). An empty field means "the
    deployment's default": the Django setting of the same meaning (see preferences.py)."""

    reviews_required = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Decisive reviews an item needs before it is resolved"
    )
    blind_review = models.BooleanField(
        null=True, blank=True, help_text="Reviewers see others' reviews only after their own"
    )
    release_four_eyes = models.BooleanField(
        null=True, blank=True, help_text="A release is approved by a lead who did not build it"
    )
    daily_question_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Chat questions per user per day (0: no limit)"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "site settings"

    def __str__(self) -> str:
        return "Site settings"
