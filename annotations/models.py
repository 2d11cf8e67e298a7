from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Example(models.Model):
    """An approved training example: exactly what a fine-tuning file needs.

    `messages` are the messages the model saw in production (system prompt with the
    rendered context, earlier turns, the question), snapshotted at approval. Each text is
    stored once (issue #17): the prompt only in `messages`, the model's answer only in
    `answer` unless it was corrected (`original_answer` is empty otherwise).
    """

    class Status(models.TextChoices):
        APPROVED = "approved", "Approved"
        WITHDRAWN = "withdrawn", "Withdrawn"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    turn = models.OneToOneField("chat.Turn", on_delete=models.PROTECT, related_name="example")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.APPROVED)
    messages = models.JSONField(default=list)
    question = models.TextField()
    answer = models.TextField(
        help_text="The final answer: the correction if any, else the original"
    )
    original_answer = models.TextField(
        blank=True, help_text="The model's answer when corrected (else it is the answer)"
    )
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
    approval_reason = models.TextField(
        blank=True, help_text="Why it was approved without a review (bulk approval by a lead)"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-approved_at"]
        indexes = [models.Index(fields=["status", "approved_at"])]

    def __str__(self) -> str:
        return self.question[:80]


class QueueItem(models.Model):
    """A logged turn waiting for (or done with) expert review.

    Signals are denormalised from the turn and its feedback by `queue_refresh`, so
    claim-next and the lead's list read one table through one index.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Needs review"
        DISPUTED = "disputed", "Needs adjudication"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Approval withdrawn"
        EXCLUDED = "excluded", "Excluded from datasets"

    class FeedbackSignal(models.TextChoices):
        NONE = "none", "No feedback"
        UP = "up", "Thumbs up"
        DOWN = "down", "Thumbs down"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    turn = models.OneToOneField("chat.Turn", on_delete=models.CASCADE, related_name="queue_item")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    priority = models.IntegerField(default=0)
    reviews_done = models.PositiveIntegerField(default=0)
    # No plain FK indexes on holder/author/topic: a million mostly-NULL or unused entries
    # to maintain on every insert; the partial indexes below serve the real lookups.
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="held_queue_items",
        db_index=False,
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # A lead routed this item to one reviewer: only they claim it (first), it is in their inbox.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_queue_items",
        db_index=False,
    )

    # Denormalised from the turn (filters) and its feedback (priority).
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        help_text="Who asked: an expert never reviews their own turns",
    )
    turn_created_at = models.DateTimeField()
    model = models.CharField(max_length=120, blank=True)
    grounded = models.BooleanField(default=False)
    max_context_score = models.FloatField(null=True, blank=True)
    topic = models.ForeignKey(
        "chat.Topic",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    feedback = models.CharField(
        max_length=4, choices=FeedbackSignal.choices, default=FeedbackSignal.NONE
    )
    # Set by the evaluation layer (issue #12): the lowest 0–1 evaluator score of the answer.
    eval_score = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "turn_created_at", "id"]
        indexes = [
            # Claim-next and the lead's list walk this in order.
            models.Index(
                F("priority").desc(),
                "turn_created_at",
                "id",
                name="queue_pending_order",
                condition=Q(state="pending"),
            ),
            models.Index(
                "holder",
                "lease_expires_at",
                name="queue_held",
                condition=Q(holder__isnull=False),
            ),
            models.Index(
                fields=["updated_at"], name="queue_disputed", condition=Q(state="disputed")
            ),
            models.Index(
                "assignee", "state", name="queue_assigned", condition=Q(assignee__isnull=False)
            ),
            models.Index(
                fields=["updated_at"], name="queue_multi_reviewed", condition=Q(reviews_done__gte=2)
            ),
        ]

    def __str__(self) -> str:
        return f"queue item {self.id}"


class Rubric(models.Model):
    """One version of a rubric: its criteria (with their scales) and tags. A lead's edit to
    a version that reviews were made with makes the next version (services.rubric_revise),
    so every review keeps the criteria it was scored against."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    version = models.PositiveIntegerField(default=1)
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="next_versions"
    )
    description = models.TextField(blank=True)
    is_active = models.BooleanField(
        default=True, help_text="The newest active rubric is the one reviewers use"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="rubric_name_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}" if self.version > 1 else self.name


class Criterion(models.Model):
    rubric = models.ForeignKey(Rubric, on_delete=models.CASCADE, related_name="criteria")
    key = models.SlugField(max_length=50, help_text="Stable name used in scores, e.g. correctness")
    label = models.CharField(max_length=120)
    help_text = models.TextField(blank=True)
    scale_min = models.SmallIntegerField(default=1)
    scale_max = models.SmallIntegerField(default=5)
    required = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["rubric", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["rubric", "key"], name="criterion_rubric_key"),
            models.CheckConstraint(
                condition=Q(scale_max__gt=F("scale_min")), name="criterion_scale_ordered"
            ),
        ]
        verbose_name_plural = "criteria"

    def __str__(self) -> str:
        return f"{self.label} ({self.scale_min}–{self.scale_max})"

    @property
    def scale(self) -> range:
        return range(self.scale_min, self.scale_max + 1)


class Tag(models.Model):
    rubric = models.ForeignKey(Rubric, on_delete=models.CASCADE, related_name="tags")
    name = models.SlugField(max_length=50)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["rubric", "name"]
        constraints = [models.UniqueConstraint(fields=["rubric", "name"], name="tag_rubric_name")]

    def __str__(self) -> str:
        return self.name


class Guideline(models.Model):
    """Reviewing guidelines in markdown, shown (sanitised) beside the review screen."""

    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Markdown")
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title


class Review(models.Model):
    """One reviewer's independent judgement of one queue item."""

    class Verdict(models.TextChoices):
        APPROVE = "approve", "Approve as training example"
        REJECT = "reject", "Reject"
        SECOND_OPINION = "second_opinion", "Needs a second opinion"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    item = models.ForeignKey(QueueItem, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    rubric = models.ForeignKey(Rubric, on_delete=models.PROTECT, related_name="reviews")
    scores = models.JSONField(default=dict, blank=True, help_text="criterion key -> score")
    tags = models.JSONField(default=list, blank=True)
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    notes = models.TextField(blank=True)
    corrected_answer = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["item", "reviewer"], name="review_one_per_reviewer")
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} · {self.get_verdict_display()}"


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        CLAIM = "claim", "Claimed"
        RELEASE = "release", "Released"
        RATE = "rate", "Rated"
        CORRECT = "correct", "Corrected"
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"
        SECOND_OPINION = "second_opinion", "Asked for a second opinion"
        DISPUTE = "dispute", "Sent to adjudication"
        ADJUDICATE = "adjudicate", "Adjudicated"
        WITHDRAW = "withdraw", "Withdrew approval"
        ENQUEUE = "enqueue", "Added to the queue"
        ASSIGN = "assign", "Assigned"
        EXCLUDE = "exclude", "Excluded from datasets"

    item = models.ForeignKey(QueueItem, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["item", "created_at"], name="audit_item_time")]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.item_id}"


class PairwiseItem(models.Model):
    """Two answers to one question, for an expert to compare blind: "A better / tie / B better".

    `first` and `second` are in the sender's order (an experiment sends the baseline arm's
    answer first); which of them is shown as A is drawn at random per item and recorded in
    `flipped`, so a preference for the left side cannot favour an arm. The expert's choice is
    kept as they saw it (`verdict`) and in the sender's terms (`preferred`). `batch` and the
    side keys are the sender's own ids (an experiment and its arm positions): this app knows
    nothing of experiments, which sit above it.
    """

    class Verdict(models.TextChoices):
        A = "a", "A is better"
        TIE = "tie", "Tie"
        B = "b", "B is better"

    class Preferred(models.TextChoices):
        FIRST = "first", "First"
        TIE = "tie", "Tie"
        SECOND = "second", "Second"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    batch = models.UUIDField(help_text="What sent it, e.g. an experiment's id")
    first_key = models.CharField(max_length=40)
    second_key = models.CharField(max_length=40)
    question = models.ForeignKey("chat.Turn", on_delete=models.CASCADE, related_name="+")
    first = models.ForeignKey(
        "chat.Turn", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    second = models.ForeignKey(
        "chat.Turn", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    flipped = models.BooleanField(help_text="Shown with the second answer as A")
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    verdict = models.CharField(max_length=3, choices=Verdict.choices, blank=True)
    preferred = models.CharField(max_length=6, choices=Preferred.choices, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="pairwise_judgements",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "question", "first_key", "second_key"], name="pairwise_once"
            )
        ]
        indexes = [
            # claim-next walks the undecided items in order
            models.Index(
                fields=["created_at", "id"], name="pairwise_open", condition=Q(verdict="")
            ),
            models.Index(
                fields=["holder"], name="pairwise_held", condition=Q(holder__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"pair {self.id}"

    @property
    def shown(self) -> tuple:
        """(answer shown as A, answer shown as B)."""
        return (self.second, self.first) if self.flipped else (self.first, self.second)
