from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from reviewhub.jobs import JobFields


class BulkJob(JobFields):
    """One bulk action a person confirmed on a filtered list of turns: what, on which filter
    (and up to which moment, so turns logged after the confirmation are not touched), how far
    it got. Small ones run in the request; large ones in a Celery worker, with this row as
    the progress bar and its lease (reviewhub.jobs: a run whose worker died is re-queued by
    the sweeper and goes on after the last turn it finished). It is also the record of a
    deletion, whose per-item audit events go with the deleted items."""

    class Action(models.TextChoices):
        QUEUE = "queue", "Add to the review queue"
        ASSIGN = "assign", "Assign to a reviewer"
        APPROVE = "approve", "Approve as training examples"
        EXCLUDE = "exclude", "Exclude from datasets"
        DELETE = "delete", "Delete ingested turns"
        EXPERIMENT = "experiment", "Replay as an experiment"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    action = models.CharField(max_length=10, choices=Action.choices)
    filters = models.JSONField(default=dict, help_text="The explorer's query string, as a dict")
    until = models.DateTimeField(help_text="Only turns logged up to the confirmation")
    params = models.JSONField(
        default=dict, blank=True, help_text="priority, reviewer, reason; model, experiment"
    )
    confirmed_count = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    resume_after = models.CharField(
        max_length=80, blank=True, help_text="The last turn done (created_at|id), for a resumed run"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.done}/{self.total})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return 0 if not self.total else min(100, int(100 * self.done / self.total))
