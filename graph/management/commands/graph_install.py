from django.core.management.base import BaseCommand

from graph.schema import install_schema
from reviewhub.graphdb import configure


class Command(BaseCommand):
    help = "Install the graph's uniqueness constraints and indexes (idempotent)."

    def handle(self, *args, **options):
        configure()
        statements = install_schema()
        self.stdout.write(f"graph schema installed ({len(statements)} constraints/indexes)")
