"""`manage.py ingest_documents <paths...>`: ingest .txt/.md/.html files (folders: recursively)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from knowledge.services import SUPPORTED_SUFFIXES, IngestError, document_ingest_path


class Command(BaseCommand):
    help = "Ingest text, markdown and HTML files (unchanged files are skipped)."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path)

    def handle(self, *args, paths: list[Path], **options):
        files: list[Path] = []
        for path in paths:
            if path.is_dir():
                files += sorted(
                    p for p in path.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES
                )
            elif path.is_file():
                files.append(path)
            else:
                raise CommandError(f"{path}: no such file or folder")
        created = unchanged = 0
        for path in files:
            try:
                document, was_created = document_ingest_path(path)
            except IngestError as exc:
                raise CommandError(str(exc)) from None
            created += was_created
            unchanged += not was_created
            state = "ingested" if was_created else "unchanged"
            self.stdout.write(
                f"{state}: {path} -> {document.title} ({document.chunks.count()} chunks)"
            )
        self.stdout.write(f"{created} ingested, {unchanged} unchanged")
