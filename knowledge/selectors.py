"""Knowledge reads."""

from __future__ import annotations

from django.db.models import Count

from knowledge.models import Document


def document_delete_impact(document: Document) -> dict[str, int]:
    """What removing a document touches: its chunks, and the logged answers whose context
    cited them (they keep the passage text as logged, but lose the link to the chunk)."""
    chunks = document.chunks.aggregate(
        n=Count("id", distinct=True), answers=Count("turn_contexts__turn", distinct=True)
    )
    return {"chunks": chunks["n"], "answers": chunks["answers"]}
