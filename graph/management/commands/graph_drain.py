from django.core.management.base import BaseCommand

from graph.drain import drain, pending_count
from reviewhub.graphdb import configure


class Command(BaseCommand):
    help = "Push pending outbox rows to the graph now (what the Celery task does)."

    def handle(self, *args, **options):
        configure()
        synced = drain()
        self.stdout.write(f"{synced} outbox rows synced, {pending_count()} pending")
