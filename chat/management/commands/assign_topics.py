from django.core.management.base import BaseCommand

from chat.topics import assign_topics


class Command(BaseCommand):
    help = (
        "Assign a topic to each question by keyword rules (see chat/topics.py). Only "
        "questions without a topic, unless --redo."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--redo",
            action="store_true",
            help="reassign every question (overrides experts' choices)",
        )

    def handle(self, *args, redo: bool, **options):
        changed = assign_topics(redo=redo)
        self.stdout.write(
            f"{changed} question(s) got a new topic (synced to the graph via the outbox)"
        )
