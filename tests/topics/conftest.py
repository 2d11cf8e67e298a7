from tests.chat.conftest import llm_server, seeded_db  # noqa: F401 - shared fixtures
