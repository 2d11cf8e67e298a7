from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from knowledge.embedding import OFFLINE_DIM
from knowledge.models import Chunk, Document
from knowledge.services import (
    IngestError,
    document_ingest,
    document_ingest_file,
    html_to_text,
    parse_file,
    split_text,
)
from outbox.models import OutboxEntry

DEMO_KB = Path(__file__).resolve().parents[2] / "demo" / "kb"


def test_split_text_overlaps_and_covers_everything():
    text = " ".join(f"word{i}" for i in range(600))
    spans = split_text(text, size=300, overlap=60)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    for (_, e1), (s2, _) in zip(spans, spans[1:], strict=False):
        assert s2 < e1, "consecutive chunks overlap"
        assert e1 - s2 <= 80
        assert text[s2 - 1] == " ", "chunks start on a word boundary"
    assert all(e - s <= 300 for s, e in spans)


def test_split_text_short_text_is_one_chunk():
    assert split_text("hello world") == [(0, 11)]


@pytest.mark.django_db
def test_reingesting_unchanged_text_is_a_no_op():
    doc, created = document_ingest(title="A", source="a.md", text="Alpha beta gamma. " * 100)
    assert created and doc.chunks.count() > 1
    chunk_ids = set(doc.chunks.values_list("id", flat=True))
    outbox_rows = OutboxEntry.objects.count()
    again, created_again = document_ingest(
        title="A", source="a.md", text="Alpha beta gamma. " * 100
    )
    assert not created_again and again.id == doc.id
    assert set(again.chunks.values_list("id", flat=True)) == chunk_ids
    assert OutboxEntry.objects.count() == outbox_rows


@pytest.mark.django_db
def test_changed_file_under_the_same_source_replaces_its_chunks():
    doc, _ = document_ingest(title="A", source="a.md", text="Old text about snapshots.")
    doc2, created = document_ingest(title="A", source="a.md", text="New text about pricing plans.")
    assert created and doc2.id == doc.id
    assert Document.objects.count() == 1
    assert "pricing" in Chunk.objects.get(document=doc).text


@pytest.mark.django_db
def test_ingest_stores_offline_vectors_and_records_the_document_for_the_graph():
    doc, _ = document_ingest(title="A", source="a.md", text="Bolt uses port 7687.")
    chunk = doc.chunks.get()
    assert (
        chunk.embedding_model.startswith("offline-hash")
        and len(bytes(chunk.embedding)) == OFFLINE_DIM * 4
    )
    assert OutboxEntry.objects.filter(entity="document", entity_id=str(doc.id)).exists()


def test_html_is_stripped_to_text_without_scripts_or_styles():
    title, text = html_to_text(
        "<html><head><title>Ports &amp; TLS</title><style>p{color:red}</style></head>"
        "<body><script>alert('x')</script><h1>Ports</h1><p>Bolt uses <b>7687</b>.</p>"
        '<p onclick="evil()">Second&nbsp;para</p></body></html>'
    )
    assert title == "Ports & TLS"
    assert "alert" not in text and "color" not in text and "<" not in text
    assert "Bolt uses 7687." in text and "Second" in text
    assert "\n\n" in text


def test_parse_file_rejects_unsupported_and_empty_files():
    with pytest.raises(IngestError, match="unsupported"):
        parse_file("x.pdf", b"%PDF")
    with pytest.raises(IngestError, match="no text"):
        parse_file("x.txt", b"   ")
    with pytest.raises(IngestError, match="UTF-8"):
        parse_file("x.txt", b"\xff\xfe\x00bad")
    assert parse_file("guide.md", b"# The Guide\n\nBody").title == "The Guide"
    assert parse_file("my-notes.txt", b"Body").title == "My notes"


@pytest.mark.django_db
def test_ingest_documents_command_ingests_a_folder_once(tmp_path, capsys):
    (tmp_path / "a.md").write_text("# Alpha\n\nAlpha text about backups.")
    (tmp_path / "b.html").write_text("<h1>Beta</h1><p>Beta text about ports.</p>")
    (tmp_path / "c.txt").write_text("Gamma text.")
    (tmp_path / "ignored.pdf").write_bytes(b"%PDF")
    call_command("ingest_documents", str(tmp_path))
    assert "3 ingested, 0 unchanged" in capsys.readouterr().out
    call_command("ingest_documents", str(tmp_path))
    assert "0 ingested, 3 unchanged" in capsys.readouterr().out
    assert set(Document.objects.values_list("title", flat=True)) == {"Alpha", "Beta", "C"}
    with pytest.raises(CommandError, match="no such file"):
        call_command("ingest_documents", str(tmp_path / "missing.md"))


@pytest.mark.django_db
def test_demo_knowledge_base_ingests():
    for path in sorted(DEMO_KB.glob("*.md")):
        document_ingest_file(name=path.name, data=path.read_bytes())
    assert Document.objects.count() >= 4
