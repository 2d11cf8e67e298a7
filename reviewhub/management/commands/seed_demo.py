"""Load the demo data once: users per role, a small knowledge base, logged conversations,
reviews, a release and an experiment. Each app contributes through its own `demo.seed()`."""

from __future__ import annotations

import importlib

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

DEMO_APPS = [
    "accounts",
    "knowledge",
    "chat",
    "graph",
    "annotations",
    "evaluation",
    "datasets",
    "experiments",
]


class Command(BaseCommand):
    help = "Load demo data (once; a second run does nothing)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="load it even into a configured database (DATABASE_URL) with DEBUG off",
        )
        parser.add_argument(
            "--unless-production",
            action="store_true",
            help="where it would refuse, say so and succeed without loading (make run)",
        )

    def handle(self, *args, force: bool = False, unless_production: bool = False, **options):
        # Demo users have passwords printed in the README: never on a production database.
        if settings.DATABASE_URL and not settings.DEBUG and not force:
            if unless_production:
                self.stdout.write("no demo data: DATABASE_URL is set and DEBUG is off")
                return
            raise CommandError(
                "Refusing to load demo users with known passwords into the database at "
                "DATABASE_URL while DEBUG is off (it may be production). Use --force if "
                "this database is for a demo."
            )
        if User.objects.filter(username="demo_user").exists():
            self.stdout.write("demo data already loaded")
            return
        for app in DEMO_APPS:
            importlib.import_module(f"{app}.demo").seed(stdout=self.stdout)
        self.stdout.write("demo data loaded")
