"""Evaluators and their scores (issue #12).

An `Evaluator` is what a lead manages (name, kind, sampling, filters, hourly cap). What
produces a score — criteria, prompt template, judge model — lives on an immutable
`EvaluatorVersion`: editing an evaluator whose current version has scores makes a new version,
so every `Score` keeps the version that produced it.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from reviewhub.jobs import WaitingJobFields


class Evaluator(models.Model):
    class Kind(models.TextChoices):
        LLM_JUDGE = "llm_judge", "LLM judge"
        OFFLINE = "offline", "Built-in offline check"
        EXTERNAL = "external", "Team's own (API)"

    class Builtin(models.TextChoices):
        GROUNDEDNESS = "groundedness", "Groundedness"
        CITATION_VALIDITY = "citation_validity", "Citation validity"
        CONTEXT_RELEVANCE = "context_relevance", "Context relevance"
        REFUSAL = "refusal", "Refusal"
        KB_SUPPORT = "kb_support", "Knowledge base support"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    builtin = models.CharField(max_length=20, choices=Builtin.choices, blank=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    # Online scoring: which new turns, how many, and at what cost.
    sampling_rate = models.FloatField(default=1.0, help_text="Share of new turns scored, 0–1")
    filter_sources = models.JSONField(default=list, blank=True, help_text="Empty: all sources")
    filter_models = models.JSONField(default=list, blank=True, help_text="Empty: all models")
    filter_topics = models.JSONField(default=list, blank=True, help_text="Topic ids; empty: all")
    hourly_cap = models.PositiveIntegerField(
        default=0, help_text="Most judge calls per hour (0: no cap); offline checks cost nothing"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def current(self) -> EvaluatorVersion | None:
        return self.versions.order_by("-version").first()


class EvaluatorVersion(models.Model):
    """What produced a score. Never edited once it has scores (services enforce it).

    `criteria`: [{"key", "label", "scale_min", "scale_max"}]; keys that match the review
    rubric's criteria are compared with the experts' scores on the alignment page.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    evaluator = models.ForeignKey(Evaluator, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField(default=1)
    criteria = models.JSONField(default=list)
    prompt_template = models.TextField(blank=True)
    model = models.CharField(max_length=120, blank=True)
    params = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["evaluator", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["evaluator", "version"], name="evaluator_version")
        ]

    def __str__(self) -> str:
        return f"{self.evaluator.name} v{self.version}"

    def criterion(self, key: str) -> dict | None:
        return next((c for c in self.criteria if c["key"] == key), None)


class Score(models.Model):
    """One criterion's score of one turn by one evaluator version. Re-running replaces it."""

    id = models.BigAutoField(primary_key=True)
    turn = models.ForeignKey("chat.Turn", on_delete=models.CASCADE, related_name="scores")
    evaluator_version = models.ForeignKey(
        EvaluatorVersion, on_delete=models.CASCADE, related_name="scores"
    )
    criterion = models.CharField(max_length=50)
    value = models.FloatField(null=True, blank=True, help_text="On the criterion's own scale")
    normalized = models.FloatField(
        null=True, blank=True, help_text="0–1, for filters and priority across scales"
    )
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    judge_prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    judge_completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    error = models.TextField(blank=True)
    source = models.CharField(max_length=100, blank=True, help_text="Who sent an API score")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["turn", "evaluator_version", "criterion"], name="score_once"
            )
        ]
        indexes = [models.Index(fields=["criterion", "normalized"], name="score_filter")]

    def __str__(self) -> str:
        return f"{self.criterion}={self.value} on {self.turn_id}"


class JudgeUsage(models.Model):
    """Judge calls made per evaluator per hour: the hourly cap is claimed with a
    compare-and-set UPDATE, so two workers never overspend it."""

    evaluator = models.ForeignKey(Evaluator, on_delete=models.CASCADE, related_name="usage")
    hour = models.DateTimeField()
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["evaluator", "hour"], name="judge_usage_hour")
        ]

    def __str__(self) -> str:
        return f"{self.calls} judge calls at {self.hour:%Y-%m-%d %H}:00"


class ScoreRequest(models.Model):
    """A turn sampled for a judge, not yet scored: the online scan records it before enqueueing
    the judge task, so a re-scan never pays twice and a lost task is re-enqueued later."""

    turn = models.ForeignKey("chat.Turn", on_delete=models.CASCADE, related_name="+")
    evaluator_version = models.ForeignKey(
        EvaluatorVersion, on_delete=models.CASCADE, related_name="requests"
    )
    requested_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["turn", "evaluator_version"], name="score_request_once")
        ]

    def __str__(self) -> str:
        return f"judge {self.evaluator_version_id} on {self.turn_id}"


class OnlineCursor(models.Model):
    """How far online scoring has looked (one row; `name` allows more later)."""

    name = models.CharField(max_length=50, primary_key=True)
    scanned_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} until {self.scanned_until}"


class BackfillJob(WaitingJobFields):
    """Scoring old turns with one evaluator version; progress lives here. A recoverable job
    (reviewhub.jobs): a run whose worker died is re-queued by the sweeper and continues at
    `done`; a run stopped by the evaluator's hourly cap waits until the next hour."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        WAITING = "waiting", "Waiting for the hourly cap"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    evaluator_version = models.ForeignKey(
        EvaluatorVersion, on_delete=models.CASCADE, related_name="backfills"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    since = models.DateTimeField(null=True, blank=True)
    rescore = models.BooleanField(default=False, help_text="Replace existing scores too")
    turn_ids = models.JSONField(default=list)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta(WaitingJobFields.Meta):
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Backfill {self.done}/{self.total} ({self.status})"

    @property
    def active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING, self.Status.WAITING)

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)
