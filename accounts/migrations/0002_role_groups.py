"""Create the three role groups with their permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE_GROUPS = {"end_user": "end users", "expert": "experts", "lead": "leads"}
ROLE_PERMISSIONS = {
    "end_user": ["use_chat"],
    "expert": ["use_chat", "review", "upload_documents", "replay"],
    "lead": ["use_chat", "review", "upload_documents", "replay",
             "adjudicate", "manage_releases", "view_analytics"],
}


def forwards(apps, schema_editor):
    # Permissions are normally created after migrate; the groups need them now.
    config = apps.get_app_config("accounts")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, group_name in ROLE_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        perms = Permission.objects.filter(
            content_type__app_label="accounts", codename__in=ROLE_PERMISSIONS[role]
        )
        group.permissions.set(perms)


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_GROUPS.values()).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial"), ("contenttypes", "0002_remove_content_type_name")]
    operations = [migrations.RunPython(forwards, backwards)]
