"""Load the demo data once: users per role, a small knowledge base, logged conversations,
reviews and a release. Each app contributes through its own `demo.seed()`."""

from __future__ import annotations

import importlib

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

DEMO_APPS = ["accounts", "knowledge", "chat", "graph", "annotations", "evaluation", "datasets"]


class Command(BaseCommand):
    help = "Load demo data (once; a second run does nothing)."

    def handle(self, *args, **options):
        if User.objects.filter(username="demo_user").exists():
            self.stdout.write("demo data already loaded")
            return
        for app in DEMO_APPS:
            importlib.import_module(f"{app}.demo").seed(stdout=self.stdout)
        self.stdout.write("demo data loaded")
