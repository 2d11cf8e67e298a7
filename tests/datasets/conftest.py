from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _role_groups(request):
    """Transactional tests flush the database, role groups (created by a data migration)
    included; put them back so the role fixtures work in any order."""
    marker = request.node.get_closest_marker("django_db")
    if not marker or not marker.kwargs.get("transaction"):
        return
    request.getfixturevalue("transactional_db")
    from django.contrib.auth.models import Group, Permission

    from reviewhub.roles import ROLE_GROUPS, ROLE_PERMISSIONS

    for role, name in ROLE_GROUPS.items():
        group, created = Group.objects.get_or_create(name=name)
        if created:
            group.permissions.set(Permission.objects.filter(
                content_type__app_label="accounts", codename__in=ROLE_PERMISSIONS[role]))
