from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Example(models.Model):
    """An approved training example: exactly what a fine-tuning file needs.

    `messages` are the messages the model saw in production (system prompt with the
    rendered context, earlier turns, the question), snapshotted at approval.
    """

    class Status(models.TextChoices):
        APPROVED = "approved", "Approved"
        WITHDRAWN = "withdrawn", "Withdrawn"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    turn = models.OneToOneField("chat.Turn", on_delete=models.PROTECT, related_name="example")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.APPROVED)
    messages = models.JSONField(default=list)
    system_prompt = models.TextField(blank=True)
    rendered_context = models.TextField(blank=True)
    question = models.TextField()
    answer = models.TextField(help_text="The final answer: the correction if any, else the original")
    original_answer = models.TextField()
    corrected = models.BooleanField(default=False)
    grounded = models.BooleanField(default=False)
    model = models.CharField(max_length=120, blank=True)
    topic = models.ForeignKey("chat.Topic", null=True, blank=True, on_delete=models.SET_NULL)
    tags = models.JSONField(default=list, blank=True)
    scores = models.JSONField(default=dict, blank=True, help_text="Mean rubric score per criterion")
    reviewers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-approved_at"]
        indexes = [models.Index(fields=["status", "approved_at"])]

    def __str__(self) -> str:
        return self.question[:80]
