from __future__ import annotations

import uuid

from django.db import models


class Document(models.Model):
    """A curated source of grounding knowledge. Re-ingesting unchanged text is a no-op."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=300)
    source = models.CharField(max_length=1000, blank=True, help_text="File path or URL")
    text = models.TextField()
    checksum = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the text")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        indexes = [models.Index(fields=["source"])]

    def __str__(self) -> str:
        return self.title


class Chunk(models.Model):
    """A slice of a document (with overlap) that retrieval can return as context."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    text = models.TextField()
    start = models.PositiveIntegerField(default=0)
    end = models.PositiveIntegerField(default=0)
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    embedding_model = models.CharField(
        max_length=120, blank=True, editable=False, help_text="Which embedder made `embedding`"
    )

    class Meta:
        ordering = ["document", "index"]
        constraints = [
            models.UniqueConstraint(fields=["document", "index"], name="chunk_unique_index")
        ]

    def __str__(self) -> str:
        return f"{self.document.title} #{self.index}"
