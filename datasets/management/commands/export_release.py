"""Write a built release's files from its snapshot: byte-identical to the built files."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from datasets import exports, hf, services
from datasets.models import Format, Release


class Command(BaseCommand):
    help = "Write a release's fine-tuning files and manifest.json to --out DIR."

    def add_arguments(self, parser):
        parser.add_argument("release_id", help="The release's id (UUID)")
        parser.add_argument("--out", required=True, help="Folder to write into (created)")

    def handle(self, *args, release_id: str, out: str, **options):
        try:
            release = Release.objects.get(id=release_id)
        except (Release.DoesNotExist, ValidationError):
            raise CommandError(f"No release with id {release_id}.") from None
        if not release.has_files:
            raise CommandError(f"{release} is {release.state}; only a built release exports.")
        folder = Path(out)
        written = exports.write_files(
            folder=folder, formats=release.formats, rows=services.iter_rows(release)
        )
        if Format.HF_DATASET in release.formats:
            # The card is rendered from the report frozen at build time, so it and the
            # zip come out byte-identical when the data files do.
            written.files += hf.write_card(folder=folder, release=release, report=release.report)
        (folder / "manifest.json").write_text(
            json.dumps(release.manifest, indent=2, sort_keys=True) + "\n"
        )
        expected = {f["name"]: f["sha256"] for f in release.manifest.get("files", [])}
        mismatched = []
        for f in written.files:
            same = expected.get(f.name) == f.sha256
            verdict = "matches the manifest" if same else "DIFFERS from the manifest"
            self.stdout.write(f"{folder / f.name}  {f.lines} lines  sha256 {f.sha256}  {verdict}")
            if not same:
                mismatched.append(f.name)
        if mismatched or set(expected) != {f.name for f in written.files}:
            raise CommandError(f"{release}: files differ from its manifest: {mismatched}")
        self.stdout.write(self.style.SUCCESS(f"{release}: {len(written.files)} files + manifest"))
