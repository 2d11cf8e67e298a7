from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from reviewhub.jobs import JobFields


class DiscoveryRun(JobFields):
    """One run of topic discovery; progress lives here so the page can show a bar. A run
    whose worker died is re-queued by the job sweeper (reviewhub.jobs) and starts over."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty for scheduled runs",
    )
    seed = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    percent = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=120, blank=True)
    questions = models.PositiveIntegerField(default=0)
    topics_found = models.PositiveIntegerField(default=0)
    topics_kept = models.PositiveIntegerField(default=0, help_text="Ids kept from earlier runs")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta(JobFields.Meta):
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Discovery {self.percent}% ({self.status})"

    @property
    def active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)
