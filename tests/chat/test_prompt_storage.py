"""A turn's prompt is stored with each text once and read back byte-identical (issue #17).

The passages live in the context rows; the stored prompt refers to them. Everything that
reads the production prompt (review, examples, exports) must still get exactly the messages
the model was sent — for chat-logged turns, API-logged turns, and rows logged before the
prompt was packed.
"""

import importlib
import json

import pytest
from django.apps import apps as django_apps
from django.db import connection

from annotations.models import Example
from annotations.services import examples_approve_bulk
from chat import prompt_storage, services
from chat.models import Turn
from chat.prompts import turn_production_messages

PACKING = importlib.import_module("chat.migrations.0008_pack_prompts")
PASSAGES = [
    "To restore a snapshot, open Backups, pick the snapshot and choose Restore; "
    "the instance is read-only until it finishes.",
    "Snapshots are taken daily at 02:00 UTC and kept for 30 days on every paid plan.",
]


@pytest.fixture
def token(end_user):
    return services.api_token_create(user=end_user, name="app")[1]


@pytest.fixture
def api(client):
    def call(method, path, body, token):
        return getattr(client, method)(
            f"/api/v1/{path}",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    return call


def _raw(turn_id) -> tuple[str, str]:
    """The stored columns as the database holds them (no model field in between)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT prompt_messages, rendered_context FROM chat_turn WHERE id = %s",
            [turn_id.hex if connection.vendor == "sqlite" else turn_id],
        )
        messages, rendered = cursor.fetchone()
    return (messages if isinstance(messages, str) else json.dumps(messages)), rendered


def _api_item(**overrides) -> dict:
    system = "Answer only from the context below."
    return {
        "question": "How do I restore a snapshot?",
        "answer": "Open Backups and choose Restore.",
        "model": "gpt-4o-mini",
        "system_prompt": system,
        "context": [{"text": t, "source": "backups.md", "score": 0.9} for t in PASSAGES],
        "messages": [
            {
                "role": "system",
                "content": f"{system}\n\nContext:\n(1) {PASSAGES[0]}\n(2) {PASSAGES[1]}",
            },
            {"role": "user", "content": "How do I restore a snapshot?"},
        ],
        **overrides,
    }


@pytest.mark.django_db
def test_a_chat_turn_reads_back_the_exact_prompt_the_model_was_sent(kb, ask, llm_server):
    first = ask("How do I restore a snapshot?", model_key="openai:test-model-large")
    second = ask(
        "And how long does it take?",
        conversation=first.conversation,
        model_key="openai:test-model-large",
    )
    sent = [
        r["body"]["messages"] for r in llm_server.requests if r["path"].endswith("/completions")
    ]
    for turn, messages in ((first, sent[-2]), (second, sent[-1])):
        stored = Turn.objects.get(pk=turn.pk)
        assert turn_production_messages(stored) == messages
        assert stored.rendered_context and stored.rendered_context in messages[0]["content"]
        # each passage once: in its context row, not again in the prompt columns
        raw_messages, raw_rendered = _raw(turn.pk)
        assert raw_rendered == ""
        for context in stored.contexts.all():
            assert context.text not in raw_messages
    assert len(sent[-1]) == 4, "the second turn's prompt carries the first one as history"


@pytest.mark.django_db
def test_an_api_turn_reads_back_the_messages_the_client_sent(api, token):
    item = _api_item()
    response = api("post", "interactions", item, token=token)
    assert response.status_code == 201, response.content
    turn = Turn.objects.get(pk=response.json()["id"])
    assert turn_production_messages(turn) == item["messages"]
    raw_messages, _ = _raw(turn.pk)
    assert all(p not in raw_messages for p in PASSAGES) and item["question"] not in raw_messages

    bare = _api_item(messages=None, question="What time are snapshots taken?")
    turn = Turn.objects.get(pk=api("post", "interactions", bare, token=token).json()["id"])
    assert turn_production_messages(turn) == [
        {"role": "system", "content": bare["system_prompt"]},
        {"role": "user", "content": "What time are snapshots taken?"},
    ]
    assert _raw(turn.pk)[0] == "[]", "nothing to store: the production rule rebuilds it"


@pytest.mark.django_db
def test_bulk_approval_snapshots_the_exact_prompt(api, token, lead):
    items = [_api_item(), _api_item(messages=None, question="When are snapshots taken?")]
    ids = api("post", "interactions", items, token=token).json()["ids"]
    assert examples_approve_bulk(turn_ids=ids, actor=lead, reason="checked")["approved"] == 2
    by_turn = {str(e.turn_id): e for e in Example.objects.all()}
    assert by_turn[ids[0]].messages == items[0]["messages"]
    assert by_turn[ids[1]].messages == [
        {"role": "system", "content": items[1]["system_prompt"]},
        {"role": "user", "content": "When are snapshots taken?"},
    ]


@pytest.mark.django_db
def test_rows_logged_before_packing_keep_their_prompt_through_the_migration(kb, ask):
    turn = ask("How do I restore a snapshot?")
    sent = turn_production_messages(Turn.objects.get(pk=turn.pk))
    rendered = Turn.objects.get(pk=turn.pk).rendered_context
    # as the rows were stored before: the prompt columns literal
    Turn.objects.filter(pk=turn.pk).update(prompt_messages=sent, rendered_context=rendered)
    old = Turn.objects.get(pk=turn.pk)
    assert not prompt_storage.is_packed(old.prompt_messages)
    assert turn_production_messages(old) == sent, "an old row reads as it always did"

    PACKING.pack(django_apps, None)
    assert _raw(turn.pk)[1] == "" and turn_production_messages(Turn.objects.get(pk=turn.pk)) == sent
    PACKING.unpack(django_apps, None)
    assert json.loads(_raw(turn.pk)[0]) == sent and _raw(turn.pk)[1] == rendered


def test_a_prompt_that_cannot_be_rebuilt_exactly_is_stored_as_sent():
    messages = [{"role": "user", "content": "Hi", "name": "bob"}]
    packed = prompt_storage.pack(
        messages=messages, system_prompt="", rendered_context="", question="Hi", passages={}
    )
    assert packed.prompt_messages is messages
    # a passage inside the question and in the system message: each reference exact
    text, question = "x" * 30, "x" * 60 + "y" + "x" * 30
    messages = [
        {"role": "system", "content": f"Use: {text}."},
        {"role": "user", "content": question},
    ]
    packed = prompt_storage.pack(
        messages=messages,
        system_prompt="",
        rendered_context="",
        question=question,
        passages={1: text},
    )
    assert packed.prompt_messages == [["system", "Use: ", 1, "."], ["user", -1]]
    rebuilt, _ = prompt_storage.unpack(
        prompt_messages=packed.prompt_messages,
        system_prompt="",
        rendered_context="",
        question=question,
        passages=lambda: {1: text},
    )
    assert rebuilt == messages


def test_the_admin_shows_the_logged_prompt_but_cannot_change_it(client, end_user):
    """The passages and prompt columns rebuild the production prompt: read-only in the admin."""
    from django.contrib.auth.models import User

    from chat.models import Turn
    from tests import factories as f

    t = f.turn(f.conversation(end_user), question="refund?", contexts=[(None, 0.5, "P1", "crm")])
    sent = Turn.objects.get(pk=t.pk).prompt_messages
    client.force_login(User.objects.create_superuser("root", password="pw-root"))
    page = client.get(f"/admin/chat/turn/{t.pk}/change/").content.decode()
    assert "P1" in page and 'name="contexts-0-text"' not in page and 'name="question"' not in page
    client.post(
        f"/admin/chat/turn/{t.pk}/change/",
        {"question": "changed?", "contexts-TOTAL_FORMS": "0", "contexts-INITIAL_FORMS": "0"},
    )
    again = Turn.objects.get(pk=t.pk)
    assert again.question == "refund?" and again.prompt_messages == sent
    assert list(again.contexts.values_list("text", flat=True)) == ["P1"]


def test_prompts_packed_in_the_earlier_form_still_read_back_exactly(end_user):
    """Rows packed before the list form ({role, content: parts}) are read alike."""
    from tests.factories import make_turn

    turn = make_turn(end_user, question="How do I restore a snapshot?", answer="From Backups.")
    sent = [
        {"role": "system", "content": f"Be brief.\n\nContext:\n{PASSAGES[0]}"},
        {"role": "user", "content": "How do I restore a snapshot?"},
    ]
    earlier = [
        {"role": "system", "content": ["Be brief.\n\nContext:\n", PASSAGES[0]]},
        {"role": "user", "content": [-1]},
    ]
    Turn.objects.filter(pk=turn.pk).update(prompt_messages=earlier, rendered_context="")
    assert Turn.objects.get(pk=turn.pk).prompt_messages == sent
