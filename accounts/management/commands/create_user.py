from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
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
        if password:
            try:
                validate_password(password)
            except ValidationError as exc:
                raise CommandError("password refused: " + " ".join(exc.messages)) from None
        try:
            user, used = user_create(username=username, role=role, password=password, email=email)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Created {role} {user.username!r}")
        if not password:
            self.stdout.write(f"Password: {used}")
