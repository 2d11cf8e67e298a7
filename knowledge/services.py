"""Knowledge base writes. (Issue #6 grows this into full ingestion with embeddings.)"""

from __future__ import annotations

import hashlib

from django.db import transaction

from graph import outbox
from knowledge.models import Chunk, Document

CHUNK_SIZE, CHUNK_OVERLAP = 800, 150


def split_text(text: str, size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP) -> list[tuple[int, int]]:
    spans, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        spans.append((start, end))
        if end == len(text):
            break
        start = end - overlap
    return spans


@transaction.atomic
def document_ingest(*, title: str, source: str, text: str) -> tuple[Document, bool]:
    """Store a document and its chunks; unchanged text is a no-op (returns created=False)."""
    checksum = hashlib.sha256(text.encode()).hexdigest()
    existing = Document.objects.filter(checksum=checksum).first()
    if existing:
        return existing, False
    document = Document.objects.create(title=title, source=source, text=text, checksum=checksum)
    Chunk.objects.bulk_create(
        Chunk(document=document, index=i, text=text[s:e], start=s, end=e)
        for i, (s, e) in enumerate(split_text(text))
    )
    outbox.record("document", [document.id])
    return document, True
