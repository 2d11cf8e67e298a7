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
    assert [h.chunk.document.title for h in hits] == ["Backups"]  # nothing else shares a word
    assert 0 < hits[0].score <= 1
    # a question touching two documents ranks both, the better match first
    hits = retrieval.retrieve("restore a snapshot over the Bolt port", k=3)
    assert [(h.rank, h.chunk.document.title) for h in hits] == [(1, "Backups"), (2, "Ports")]
    assert hits[0].score > hits[1].score > 0


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


def test_retrieve_with_no_known_words_never_outranks_a_word_match(kb):
    match = retrieval.retrieve("restore a snapshot", k=1)[0]
    gibberish = retrieval.retrieve("zzzz qqqq", k=3)
    # no shared word: only the vector part can score, capped below any lexical match
    assert max((h.score for h in gibberish), default=0.0) <= 1 - retrieval.LEXICAL_WEIGHT
    assert match.score > 1 - retrieval.LEXICAL_WEIGHT
    assert retrieval.retrieve("zzzz qqqq", k=3, min_score=0.5) == []
