from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from reviewhub.jobs import JobFields


class Format(models.TextChoices):
    OPENAI_CHAT = "openai_chat", "OpenAI chat JSONL"
    OPENAI_DPO = "openai_dpo", "OpenAI preference (DPO) JSONL"
    VERTEX_GEMINI = "vertex_gemini", "Vertex AI Gemini JSONL"
    TRL_PREFERENCE = "trl_preference", "TRL preference JSONL (prompt/chosen/rejected)"
    HF_DATASET = "hf_dataset", "Hugging Face dataset (Parquet + dataset card)"


class License(models.TextChoices):
    """Licences a Hugging Face dataset card can name (Hub licence identifiers).

    `other` is the default: support conversations are usually the company's own data,
    and a release must not grant reuse rights by accident; the card then says so.
    """

    OTHER = "other", "Other / proprietary (no reuse granted)"
    CC_BY_4 = "cc-by-4.0", "CC BY 4.0"
    CC_BY_SA_4 = "cc-by-sa-4.0", "CC BY-SA 4.0"
    CC_BY_NC_4 = "cc-by-nc-4.0", "CC BY-NC 4.0"
    CC_BY_NC_SA_4 = "cc-by-nc-sa-4.0", "CC BY-NC-SA 4.0"
    CC0 = "cc0-1.0", "CC0 1.0 (public domain)"
    ODC_BY = "odc-by", "ODC-By 1.0"
    CDLA_PERMISSIVE_2 = "cdla-permissive-2.0", "CDLA-Permissive 2.0"
    APACHE_2 = "apache-2.0", "Apache 2.0"
    MIT = "mit", "MIT"


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VALIDATION = "validation", "Validation"


class Release(JobFields):
    """A versioned fine-tuning dataset built from approved examples.

    The definition (filters, validation fraction, seed, formats) is editable only while
    the release is a draft or failed; from `approved` on nothing changes — a change is a
    new version (same name, version + 1).
    """

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        BUILDING = "building", "Building"
        BUILT = "built", "Built"
        FAILED = "failed", "Failed"
        APPROVED = "approved", "Approved"
        PUBLISHED = "published", "Published"
        REJECTED = "rejected", "Rejected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField(default=1)
    description = models.TextField(blank=True)
    filters = models.JSONField(default=dict, blank=True)
    validation_fraction = models.FloatField(default=0.1)
    seed = models.IntegerField(default=0)
    formats = models.JSONField(default=list)
    license = models.CharField(
        max_length=30,
        choices=License.choices,
        default=License.OTHER,
        help_text="Named in the Hugging Face dataset card",
    )
    language = models.CharField(
        max_length=20, blank=True, help_text="Language of the examples (BCP 47, e.g. en), if known"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)

    # Progress of the build, for the bar on the page.
    progress_stage = models.CharField(max_length=60, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)

    report = models.JSONField(default=dict, blank=True, help_text="Validation, dedup, PII")
    manifest = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    built_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    built_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    rejected_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="release_name_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def progress_percent(self) -> int:
        if self.state in {self.State.BUILT, self.State.APPROVED, self.State.PUBLISHED}:
            return 100
        if not self.progress_total:
            return 0
        return min(100, int(100 * self.progress_done / self.progress_total))

    @property
    def has_files(self) -> bool:
        return self.state in {self.State.BUILT, self.State.APPROVED, self.State.PUBLISHED}

    @property
    def is_locked(self) -> bool:
        return self.state in {self.State.APPROVED, self.State.PUBLISHED}


class ReleaseItem(models.Model):
    """One example in a built release, snapshotted (after PII scrubbing) at build time,
    so later edits to the example do not change what the release's files hold."""

    # db_index=False: both unique constraints below lead with release.
    release = models.ForeignKey(
        Release, on_delete=models.CASCADE, related_name="items", db_index=False
    )
    example = models.ForeignKey(
        "annotations.Example", on_delete=models.PROTECT, related_name="release_items"
    )
    position = models.PositiveIntegerField()
    split = models.CharField(max_length=10, choices=Split.choices)
    messages = models.JSONField(default=list, help_text="Production messages, scrubbed")
    question = models.TextField()
    answer = models.TextField()
    original_answer = models.TextField(
        blank=True, help_text="The original answer when corrected (else it is the answer)"
    )
    corrected = models.BooleanField(default=False)
    grounded = models.BooleanField(default=False)
    model = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["release", "position"]
        constraints = [
            models.UniqueConstraint(fields=["release", "example"], name="release_item_once"),
            models.UniqueConstraint(fields=["release", "position"], name="release_item_position"),
        ]

    def __str__(self) -> str:
        return f"{self.release_id} #{self.position}"
