import pytest

from knowledge import retrieval
from knowledge.services import document_ingest


@pytest.fixture
def kb(db):
    document_ingest(
        title="Backups",
        source="backups.md",
        text=(
            "Every paid instance takes a daily snapshot kept for seven days. To restore, open the "
            "snapshot and choose Restore. Restoring replaces all data."
        ),
    )
    document_ingest(
        title="Ports",
        source="ports.md",
        text=(
            "Connections use the Bolt protocol on port 7687 with TLS. The URI looks like neo4j+s://."
        ),
    )
    document_ingest(
        title="Pricing",
        source="pricing.md",
        text=(
            "The Professional plan starts at $65 per month for 1 GB of memory. "
            "Invoices are monthly."
        ),
    )


def test_retrieve_ranks_the_relevant_chunk_first(kb):
    hits = retrieval.retrieve("How do I restore a snapshot?", k=3)
    assert [h.rank for h in hits] == [1, 2, 3][: len(hits)]
    assert hits[0].chunk.document.title == "Backups"
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))
    assert 0 < hits[0].score <= 1
    assert all(h.chunk.document.title != "Pricing" or h.score < hits[0].score for h in hits)


def test_retrieve_matches_by_vector_when_words_differ_in_form(kb):
    hits = retrieval.retrieve("snapshots restoring", k=1)
    assert hits[0].chunk.document.title == "Backups"
    assert retrieval.retrieve("what port and protocol", k=1)[0].chunk.document.title == "Ports"


def test_retrieve_sees_new_documents_without_a_restart(kb):
    assert retrieval.retrieve("kubernetes operator helm", k=1) == []
    document_ingest(
        title="Operator", source="op.md", text="Install the Kubernetes operator with Helm."
    )
    assert retrieval.retrieve("kubernetes operator helm", k=1)[0].chunk.document.title == "Operator"


@pytest.mark.django_db
def test_retrieve_on_an_empty_knowledge_base_returns_nothing():
    assert retrieval.retrieve("anything") == []


def test_retrieve_with_no_known_words_still_returns_scored_hits_or_nothing(kb):
    hits = retrieval.retrieve("zzzz qqqq", k=2)
    assert all(h.score <= 0.5 for h in hits)
