from __future__ import annotations

import secrets

from django.contrib.auth.models import Group, User
from django.db import transaction

from reviewhub.roles import ROLE_GROUPS


@transaction.atomic
def user_create(
    *, username: str, role: str, password: str | None = None, email: str = ""
) -> tuple[User, str]:
    """Create a user in the role's group; returns the user and the password used."""
    if role not in ROLE_GROUPS:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLE_GROUPS)}")
    if User.objects.filter(username=username).exists():
        raise ValueError(f"a user named {username!r} already exists")
    password = password or secrets.token_urlsafe(12)
    user = User.objects.create_user(username=username, password=password, email=email)
    user.groups.add(Group.objects.get(name=ROLE_GROUPS[role]))
    return user, password


@transaction.atomic
def role_groups_ensure() -> None:
    """Create the role groups with their permissions where missing.

    The `accounts` data migration does this on migrate; a database that was flushed
    afterwards (transactional tests do that) needs it again.
    """
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Permission

    from reviewhub.roles import ROLE_PERMISSIONS

    create_permissions(apps.get_app_config("accounts"), verbosity=0)
    for role, name in ROLE_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(
            Permission.objects.filter(
                content_type__app_label="accounts", codename__in=ROLE_PERMISSIONS[role]
            )
        )
