from __future__ import annotations

import re

import pytest

from tests.chat.conftest import ask, kb, llm_server, seeded_db  # noqa: F401 - shared fixtures

QUESTIONS = {
    "Pricing": [
        "How much does the Professional plan cost per month?",
        "What is the price of the Professional plan?",
        "How are invoices issued and paid?",
        "What does the Enterprise plan include?",
    ],
    "Backups": [
        "How long are daily snapshots kept?",
        "How do I restore a snapshot?",
        "How long does a restore of a 10 GB instance take?",
        "Do free instances have snapshots?",
    ],
}
PASSAGE = re.compile(r"\[1\][^\n]*\n(.+?)(?:\n\n|\Z)", re.S)


def _first_sentence(body: dict) -> str:
    system = body["messages"][0]["content"] if body["messages"] else ""
    found = PASSAGE.search(system)
    text = found.group(1) if found else "I do not know."
    return re.split(r"(?<=[.!?])\s", text.strip())[0]


def answer_for(body: dict) -> str:
    """Two models that differ deterministically: `good-model` quotes the top passage;
    `bad-model` does too, except on pricing, where it invents a price."""
    question = body["messages"][-1]["content"].lower()
    if body["model"] == "bad-model" and any(w in question for w in ("price", "cost", "plan")):
        return "The Professional plan costs $9 per month and includes a free GPU [1]."
    return f"{_first_sentence(body)} [1]"


@pytest.fixture
def two_models(llm_server, monkeypatch):  # noqa: F811
    from chat.models import ModelEndpoint
    from tests.chat.llm_server import API_KEY

    monkeypatch.setenv("EXP_TEST_KEY", API_KEY)
    llm_server.answer_for = answer_for
    for name in ("good-model", "bad-model"):
        ModelEndpoint.objects.create(
            name=name, base_url=llm_server.base_url, api_key_env="EXP_TEST_KEY", model=name
        )
    return llm_server


@pytest.fixture
def logged(kb, ask):  # noqa: F811
    """Logged questions on two topics, answered offline, each with its topic (an expert's
    choice: a manual membership, the question's primary topic)."""
    from chat.models import Topic
    from chat.services import turn_set_topic

    ids = []
    for name, questions in QUESTIONS.items():
        topic = Topic.objects.create(name=name)
        for q in questions:
            turn = ask(q, model_key="offline:offline-extractive")
            turn_set_topic(turn=turn, topic=topic)
            ids.append(str(turn.pk))
    return ids
