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
    from accounts.services import role_groups_ensure

    role_groups_ensure()
