from django.core.management.base import BaseCommand, CommandError

from accounts.services import user_create
from reviewhub.roles import ROLE_GROUPS


class Command(BaseCommand):
    help = "Create a user with a role; prints a generated password when none is given."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=list(ROLE_GROUPS))
        parser.add_argument("--password")
        parser.add_argument("--email", default="")

    def handle(self, *args, username, role, password, email, **options):
        try:
            user, used = user_create(username=username, role=role, password=password, email=email)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Created {role} {user.username!r}")
        if not password:
            self.stdout.write(f"Password: {used}")
