"""Demo knowledge base: the Acme Graph Cloud docs in demo/kb, ingested through the real service."""

from pathlib import Path

from django.conf import settings

from knowledge.services import SUPPORTED_SUFFIXES, document_ingest_file

KB_DIR = Path(settings.BASE_DIR) / "demo" / "kb"


def seed(stdout) -> None:
    created = 0
    for path in sorted(p for p in KB_DIR.iterdir() if p.suffix in SUPPORTED_SUFFIXES):
        _, was_created = document_ingest_file(
            name=path.name, data=path.read_bytes(), source=f"demo/kb/{path.name}"
        )
        created += was_created
    stdout.write(f"demo knowledge base loaded ({created} documents)")
