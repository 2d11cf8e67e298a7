from django.core.management.base import BaseCommand

from graph.schema import install_schema
from reviewhub.graphdb import configure, wait_until_ready


class Command(BaseCommand):
    help = "Install the graph's uniqueness constraints and indexes (idempotent)."
    requires_system_checks = []  # serve_all runs it as the graph server's readiness check

    def add_arguments(self, parser):
        parser.add_argument(
            "--wait",
            type=float,
            default=0,
            metavar="SECONDS",
            help="wait up to this long for the graph to answer queries first",
        )

    def handle(self, *args, wait: float, **options):
        configure()
        if wait:
            wait_until_ready(wait)
        statements = install_schema()
        self.stdout.write(f"graph schema installed ({len(statements)} constraints/indexes)")
