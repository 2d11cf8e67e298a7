"""Queue the turns that existed before the review queue (or that a path forgot)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from annotations.services import REFRESH_BATCH, queue_backfill, queue_refresh
from chat.models import Turn


class Command(BaseCommand):
    help = "Create missing review-queue items; with --all, recompute every item's priority."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--all",
            action="store_true",
            help="refresh every turn (e.g. after changing priority weights)",
        )

    def handle(self, *args, **options) -> None:
        if not options["all"]:
            self.stdout.write(f"queued {queue_backfill()} turns without a queue item")
            return
        total, last = 0, None
        while True:  # keyset over ids: constant cost per batch
            qs = Turn.objects.order_by("id").values_list("id", flat=True)
            if last is not None:
                qs = qs.filter(id__gt=last)
            ids = list(qs[:REFRESH_BATCH])
            if not ids:
                break
            with transaction.atomic():
                queue_refresh(turn_ids=ids)
            total, last = total + len(ids), ids[-1]
        self.stdout.write(f"refreshed {total} turns")
