from django.db import models

from reviewhub.roles import PERMISSIONS


class Role(models.Model):  # noqa: DJ008 - never instantiated; it only carries permissions
    """Holds the role permissions; no table. Groups get them in a migration."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = list(PERMISSIONS.items())
