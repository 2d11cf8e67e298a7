from __future__ import annotations

import pytest

from tests.chat.llm_server import API_KEY, LLMServer


@pytest.fixture
def llm_server(settings):
    """A local OpenAI-compatible server, with the settings pointing the real client at it."""
    server = LLMServer().start()
    settings.OPENAI_API_KEY = API_KEY
    settings.OPENAI_BASE_URL = server.base_url
    settings.OPENAI_MODEL = "test-model"
    settings.OPENAI_MODELS = ["test-model", "test-model-large"]
    settings.OPENAI_MAX_RETRIES = 1
    settings.OPENAI_TIMEOUT_S = 5.0
    yield server
    server.stop()


@pytest.fixture
def kb(db):
    """The demo knowledge base, ingested through the real service."""
    from knowledge.demo import seed

    class Quiet:
        def write(self, *_):
            pass

    seed(Quiet())


@pytest.fixture
def ask(end_user):
    """ask(question, user=end_user, grounded=True, model_key=None) -> a logged Turn."""
    from chat import services

    def _ask(
        question: str,
        user=None,
        grounded: bool = True,
        model_key: str | None = None,
        conversation=None,
    ):
        user = user or end_user
        conversation = conversation or services.conversation_create(user=user)
        return services.chat_ask(
            conversation=conversation,
            user=user,
            question=question,
            grounded=grounded,
            model_key=model_key,
        )

    return _ask


@pytest.fixture
def seeded_db(transactional_db):
    """Put back what migrations seed (role groups, the default prompt template).

    Transactional tests flush the database afterwards; `serialized_rollback` should restore it,
    but once Playwright's session fixture is running, Django hands this thread a fresh
    connection object without the serialized contents, so the restore is skipped.
    """
    import importlib

    from django.apps import apps

    from accounts.services import role_groups_ensure

    role_groups_ensure()
    importlib.import_module("chat.migrations.0003_default_prompt_template").seed(apps, None)
