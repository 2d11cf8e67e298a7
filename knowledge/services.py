"""Knowledge base writes: ingest documents (txt, md, html) into overlapping chunks with vectors.

Re-ingesting unchanged text is a no-op. Ingesting changed text under a known source replaces
that document's text and chunks (turns keep their own snapshot of the passages they used).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from django.db import transaction

from knowledge import embedding
from knowledge.models import Chunk, Document
from outbox.services import record

log = logging.getLogger(__name__)

CHUNK_SIZE, CHUNK_OVERLAP = 800, 150
SUPPORTED_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm"}
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024


class IngestError(ValueError):
    pass


def split_text(
    text: str, size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP
) -> list[tuple[int, int]]:
    """Spans of at most `size` characters, each overlapping the previous one by ~`overlap`.

    A span ends at the last paragraph, sentence or word break in its second half when there is
    one, so chunks rarely cut a word in two.
    """
    spans: list[tuple[int, int]] = []
    start, n = 0, len(text)
    while start < n:
        end = min(n, start + size)
        if end < n:
            window = text[start + size // 2 : end]
            for sep in ("\n\n", ". ", "\n", " "):
                cut = window.rfind(sep)
                if cut != -1:
                    end = start + size // 2 + cut + len(sep)
                    break
        spans.append((start, end))
        if end >= n:
            break
        next_start = max(end - overlap, start + 1)
        # start the overlap on a word boundary
        space = text.find(" ", next_start, end)
        start = space + 1 if space != -1 else next_start
    return spans


class _TextExtractor(HTMLParser):
    """HTML to plain text: drops script/style/head, keeps block structure as blank lines."""

    SKIP = {"script", "style", "head", "noscript", "template", "svg"}
    BLOCK = {
        "p",
        "div",
        "br",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "section",
        "article",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "table",
        "hr",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.title = ""
        self.heading = ""
        self._in_title = False
        self._in_h1 = False

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self._in_title = True
        if tag == "h1":
            self._in_h1 = True
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        if tag == "h1":
            self._in_h1 = False
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        if self._in_h1 and not self.skipping:
            self.heading += data
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """(title, text) of an HTML page; markup, scripts and styles are dropped, never executed."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r"\s*\n\s*\n\s*", "\n\n", text)
    return (parser.title.strip() or parser.heading.strip()), text.strip()


def _markdown_title(text: str) -> str:
    match = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


@dataclass
class Parsed:
    title: str
    text: str


def parse_file(name: str, data: bytes) -> Parsed:
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(f"{name}: unsupported file type (use .txt, .md or .html)")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise IngestError(f"{name}: larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB")
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise IngestError(f"{name}: not UTF-8 text") from None
    fallback = Path(name).stem.replace("-", " ").replace("_", " ").strip().capitalize()
    if suffix in {".html", ".htm"}:
        title, text = html_to_text(raw)
    else:
        text = raw.replace("\r\n", "\n").strip()
        title = _markdown_title(text) if suffix in {".md", ".markdown"} else ""
    if not text.strip():
        raise IngestError(f"{name}: no text in the file")
    return Parsed(title=(title or fallback)[:300], text=text)


def _embed(texts: list[str]) -> tuple[list[bytes | None], str]:
    emb = embedding.embedder()
    try:
        matrix = emb.embed(texts)
    except Exception:  # embedding endpoint down: retrieval embeds them later
        log.warning("could not embed %d chunks with %s", len(texts), emb.name, exc_info=True)
        return [None] * len(texts), ""
    return [embedding.to_bytes(row) for row in matrix], emb.name


@transaction.atomic
def document_ingest(*, title: str, source: str, text: str) -> tuple[Document, bool]:
    """Store a document and its chunks; unchanged text is a no-op (returns created=False).

    Changed text under an existing source replaces that document's text and chunks.
    """
    text = text.strip()
    if not text:
        raise IngestError("the document has no text")
    checksum = hashlib.sha256(text.encode()).hexdigest()
    existing = Document.objects.filter(checksum=checksum).first()
    if existing:
        return existing, False
    document = Document.objects.filter(source=source).first() if source else None
    if document:
        document.title, document.text, document.checksum = title, text, checksum
        document.save()
        document.chunks.all().delete()
    else:
        document = Document.objects.create(title=title, source=source, text=text, checksum=checksum)
    spans = split_text(text)
    vectors, model_name = _embed([text[s:e] for s, e in spans])
    Chunk.objects.bulk_create(
        Chunk(
            document=document,
            index=i,
            text=text[s:e],
            start=s,
            end=e,
            embedding=vec,
            embedding_model=model_name,
        )
        for i, ((s, e), vec) in enumerate(zip(spans, vectors, strict=True))
    )
    record("document", [document.id])
    return document, True


def document_ingest_file(
    *, name: str, data: bytes, source: str | None = None
) -> tuple[Document, bool]:
    parsed = parse_file(name, data)
    return document_ingest(title=parsed.title, source=source or name, text=parsed.text)


def document_ingest_path(path: Path) -> tuple[Document, bool]:
    return document_ingest_file(name=path.name, data=path.read_bytes(), source=str(path))


@transaction.atomic
def document_delete(*, document: Document) -> None:
    record("document", [document.id])
    document.delete()
