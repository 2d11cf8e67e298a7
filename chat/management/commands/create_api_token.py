"""`manage.py create_api_token <username> [--name N]`: print a new ingestion API token once."""

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from chat.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line")

    def handle(self, *args, username: str, name: str, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        token, raw = api_token_create(user=user, name=name)
        self.stdout.write(f"Token for {username} ({token.name}): {raw}")
        self.stdout.write("Store it now; it cannot be shown again.")
