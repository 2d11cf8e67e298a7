import pytest


@pytest.fixture
def roles_seeded(transactional_db):
    """The role groups again for transactional tests (a flush takes them away)."""
    from accounts.services import role_groups_ensure

    role_groups_ensure()
