"""Migrations 0009 and 0010: examples approved before issue #17 without logged messages get
their production prompt stored in `messages`, then `system_prompt` and `rendered_context`
go. Examples that had messages keep them as they were, byte for byte."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from annotations.models import Example
from chat.prompts import production_messages
from tests.factories import make_turn

BEFORE = [("annotations", "0008_pairwise_items")]
MIGRATION = importlib.import_module("annotations.migrations.0009_example_messages_whole")

pytestmark = pytest.mark.django_db(transaction=True)  # migrations run outside a test transaction


def migrated(make_old: Callable[[type], None]) -> None:
    """Go back to before 0009, let `make_old` create examples with the old model, then
    migrate to the latest state again."""
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(BEFORE)
        make_old(executor.loader.project_state(BEFORE).apps.get_model("annotations", "Example"))
    finally:
        executor = MigrationExecutor(connection)  # reload the graph of applied migrations
        executor.migrate(latest)


def raw_messages(model: type, pk) -> str:
    return model.objects.filter(pk=pk).values_list(Cast("messages", TextField()), flat=True)[0]


def test_examples_without_messages_get_the_production_prompt(roles_seeded, end_user, monkeypatch):
    monkeypatch.setattr(MIGRATION, "BATCH", 2)  # three examples: two batches
    old = [
        ("Be brief.", "Context:\n[1] Port 7687.", "What port does Bolt use?"),
        ("Be brief.\n\n[1] Port 7687.", "[1] Port 7687.", "Already in the prompt?"),
        ("", "", "No system prompt at all?"),
    ]
    turns = [make_turn(end_user, question=question) for *_, question in old]

    def make_old(OldExample) -> None:
        for turn, (system, context, question) in zip(turns, old, strict=True):
            OldExample.objects.create(
                turn_id=turn.pk,
                messages=[],
                system_prompt=system,
                rendered_context=context,
                question=question,
                answer="Bolt uses 7687.",
                approved_at=timezone.now(),
            )

    migrated(make_old)
    stored = {e.question: e.messages for e in Example.objects.all()}
    assert stored["What port does Bolt use?"] == [
        {"role": "system", "content": "Be brief.\n\nContext:\n[1] Port 7687."},
        {"role": "user", "content": "What port does Bolt use?"},
    ]
    for system, context, question in old:  # the one rule the exports used before
        assert stored[question] == production_messages(
            prompt_messages=[], system_prompt=system, rendered_context=context, question=question
        )
    assert {f.name for f in Example._meta.get_fields()}.isdisjoint(
        {"system_prompt", "rendered_context"}
    )


def test_examples_with_messages_keep_them_byte_for_byte(roles_seeded, end_user):
    turn = make_turn(end_user, question="Wie spät ist es?")
    # Pre-#17 examples stored the columns as well; here they disagree with the messages,
    # so a rebuild would show.
    messages = [
        {"content": "Sé breve. \u00e9\u00e8 \U0001f986\n\n[1] «Kontext»", "role": "system"},
        {"role": "user", "content": "Hallo"},
        {"role": "assistant", "content": "Hallo!  "},
        {"role": "user", "content": "Wie spät ist es?"},
    ]
    before: dict[str, str] = {}

    def make_old(OldExample) -> None:
        example = OldExample.objects.create(
            turn_id=turn.pk,
            messages=messages,
            system_prompt="Something else entirely.",
            rendered_context="[1] Another context.",
            question="Wie spät ist es?",
            answer="Zwölf.",
            approved_at=timezone.now(),
        )
        before["pk"], before["raw"] = example.pk, raw_messages(OldExample, example.pk)

    migrated(make_old)
    assert raw_messages(Example, before["pk"]) == before["raw"]
    assert Example.objects.get(pk=before["pk"]).messages == messages
