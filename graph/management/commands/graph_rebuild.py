import time

from django.core.management.base import BaseCommand

from graph.reconcile import WRITE_BATCH, rebuild
from graph.schema import install_schema
from reviewhub.graphdb import configure


class Command(BaseCommand):
    help = (
        "Rebuild the graph from SQL in batches (idempotent). Without --clean it also "
        "removes what SQL no longer has, so it doubles as a full reconcile."
    )

    def add_arguments(self, parser):
        parser.add_argument("--clean", action="store_true", help="empty the graph first")
        parser.add_argument("--batch-size", type=int, default=WRITE_BATCH)

    def handle(self, *args, clean: bool, batch_size: int, **options):
        configure()
        install_schema()
        started = time.monotonic()
        done: dict[str, int] = {}

        def progress(entity: str, n: int) -> None:
            done[entity] = done.get(entity, 0) + n
            self.stdout.write(f"\r{entity}: {done[entity]}", ending="")
            self.stdout.flush()

        rebuild(batch_size=batch_size, clean=clean, progress=progress)
        self.stdout.write("")
        summary = ", ".join(f"{n} {e}" for e, n in done.items()) or "nothing to sync"
        elapsed = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"graph rebuilt in {elapsed:.1f}s ({summary})"))
