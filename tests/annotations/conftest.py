import pytest


@pytest.fixture
def roles_seeded(transactional_db):
    """Put the role groups back for transactional tests.

    A transactional test flushes the database afterwards, taking the groups that a data
    migration created with it; the next transactional test needs them again (the
    serialized rollback is not restored on the Playwright thread)."""
    from accounts.services import role_groups_ensure

    role_groups_ensure()
