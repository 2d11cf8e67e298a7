"""Experiments: a question set answered by two or more arms, compared with the same evaluators.

An arm's answers are ordinary logged turns (source "replay") in the arm's own conversation,
each linked to the question it answers by `Turn.replay_of`; that pair (conversation, original)
is what makes a run resumable without duplicates. The "logged" arm is the original answers.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from reviewhub.jobs import JobFields


class Experiment(JobFields):
    class Source(models.TextChoices):
        FILTER = "filter", "Logged questions matching a filter"
        LIST = "list", "A hand-picked list"
        RELEASE = "release", "A release's validation split"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.FILTER)
    filters = models.JSONField(default=dict, blank=True)
    release = models.ForeignKey(
        "datasets.Release", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    question_ids = models.JSONField(default=list, help_text="The original turns, in order")
    question_hash = models.CharField(max_length=64, blank=True)
    evaluators = models.JSONField(default=list, help_text="Evaluator names scoring every arm")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    results = models.JSONField(default=dict, blank=True, help_text="Kept when it finished")
    results_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="experiments"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)

    @property
    def finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED, self.Status.CANCELLED}


class Arm(models.Model):
    class Kind(models.TextChoices):
        LOGGED = "logged", "The logged original answers"
        MODEL = "model", "A model answers again"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    position = models.PositiveSmallIntegerField(default=0)
    label = models.CharField(max_length=80)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.MODEL)
    model_key = models.CharField(max_length=160, blank=True)
    prompt_template = models.ForeignKey(
        "chat.PromptTemplate", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    grounded = models.BooleanField(default=True)
    k = models.PositiveSmallIntegerField(default=4, help_text="Passages retrieved")
    conversation = models.ForeignKey(
        "chat.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["experiment", "position"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "position"], name="arm_position")
        ]

    def __str__(self) -> str:
        return self.label
