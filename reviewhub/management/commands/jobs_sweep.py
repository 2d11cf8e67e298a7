"""`manage.py jobs_sweep`: what the periodic sweeper does, once, now (prints its report)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from reviewhub.jobs import job_sweep


class Command(BaseCommand):
    help = "Recover jobs whose worker vanished and send jobs waiting for a worker."

    def handle(self, *args, **options) -> None:
        self.stdout.write(json.dumps(job_sweep(), sort_keys=True))
