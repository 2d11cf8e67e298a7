import pytest


@pytest.fixture
def roles_seeded(transactional_db):
    """Put the role groups back for transactional tests.

    A transactional test flushes the database afterwards, taking the groups that a data
    migration created with it; the next transactional test needs them again (the
    serialized rollback is not restored on the Playwright thread)."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    from reviewhub.roles import ROLE_GROUPS, ROLE_PERMISSIONS

    create_permissions(apps.get_app_config("accounts"), verbosity=0)
    for role, name in ROLE_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(Permission.objects.filter(
            content_type__app_label="accounts", codename__in=ROLE_PERMISSIONS[role]))
