from __future__ import annotations

import secrets

from django.contrib.auth.models import Group, User
from django.db import transaction

from reviewhub.roles import ROLE_GROUPS


@transaction.atomic
def user_create(*, username: str, role: str, password: str | None = None,
                email: str = "") -> tuple[User, str]:
    """Create a user in the role's group; returns the user and the password used."""
    if role not in ROLE_GROUPS:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLE_GROUPS)}")
    if User.objects.filter(username=username).exists():
        raise ValueError(f"a user named {username!r} already exists")
    password = password or secrets.token_urlsafe(12)
    user = User.objects.create_user(username=username, password=password, email=email)
    user.groups.add(Group.objects.get(name=ROLE_GROUPS[role]))
    return user, password
