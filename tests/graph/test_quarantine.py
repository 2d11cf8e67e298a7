"""A bad row in the outbox is found, held back and shown, while every other row flows."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DataError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from neomodel import db

from chat.models import Turn
from graph.drain import QUARANTINE_AFTER, DrainError, drain, pending_count
from graph.reconcile import check
from outbox.models import OutboxEntry
from tests import factories as f

pytestmark = pytest.mark.django_db

# The first instant of year 1 in a zone 14 hours ahead is in year 0 in UTC: PostgreSQL
# stores it ("0001-12-31 10:00:00 BC"), no Python datetime can hold it when read back.
YEAR_ONE_AT_PLUS_14 = datetime(1, 1, 1, tzinfo=dt_timezone(timedelta(hours=14)))


def poison(turn: Turn) -> None:
    if connection.vendor == "postgresql":
        Turn.objects.filter(pk=turn.pk).update(created_at=YEAR_ONE_AT_PLUS_14)
        return
    # Django cannot write that instant to SQLite (it converts to UTC first), but SQLite
    # holds the text PostgreSQL would give, and reading it back fails the same way.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE chat_turn SET created_at = %s WHERE id = %s",
            ["0000-12-31 10:00:00", turn.pk.hex],
        )


def messages_in_graph() -> set[str]:
    rows, _ = db.cypher_query("MATCH (m:Message {role: 'assistant'}) RETURN m.uid")
    return {r[0] for r in rows}


def test_a_bad_turn_is_quarantined_while_the_rest_of_its_batch_is_synced(
    clean_graph, end_user, lead, expert, client_for
):
    conv = f.conversation(end_user)
    turns = [f.turn(conv, question=f"question {i}") for i in range(7)]
    bad = turns[3]
    poison(bad)
    with pytest.raises((ValueError, DataError)), transaction.atomic():
        Turn.objects.get(pk=bad.pk)  # the row really cannot be read back

    with pytest.raises(DrainError):  # one attempt: Celery will retry it later
        drain()
    assert messages_in_graph() == {str(t.id) for t in turns if t != bad}
    row = OutboxEntry.objects.get(entity="turn", entity_id=str(bad.id))
    assert row.synced_at is None and row.attempts == 1 and "year" in row.last_error
    assert pending_count() == 1

    f.turn(conv, question="a later question")  # keeps flowing while the bad row waits
    for _ in range(QUARANTINE_AFTER - 2):
        with pytest.raises(DrainError):
            drain()
    assert drain() == 0  # the last attempt quarantines it; nothing is left to retry
    row.refresh_from_db()
    assert row.quarantined_at is not None and row.attempts == QUARANTINE_AFTER
    assert pending_count() == 0
    assert len(messages_in_graph()) == 7

    # graph_check shows it, and --fix repairs what it can without crashing on it
    with pytest.raises(CommandError, match="still differs"):
        call_command("graph_check", "--fix", stdout=(out := _Out()))
    assert f"could not write turn {bad.id}" in out.text
    assert "1 outbox row(s) quarantined" in out.text and str(bad.id) in out.text

    # leads see it on the analytics page and retry it once the data is fixed
    assert (
        client_for(expert).post(reverse("graph:outbox_retry"), {"entry": row.id}).status_code == 403
    )
    page = client_for(lead).get(reverse("graph:analytics")).content.decode()
    assert "Changes the graph could not take" in page and str(bad.id) in page
    Turn.objects.filter(pk=bad.pk).update(created_at=timezone.now())
    response = client_for(lead).post(reverse("graph:outbox_retry"), {"entry": row.id})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.quarantined_at is None and row.attempts == 0
    assert drain() == 1
    assert str(bad.id) in messages_in_graph()
    assert check().ok, check().differences()
    assert (
        "Changes the graph could not take"
        not in client_for(lead).get(reverse("graph:analytics")).content.decode()
    )


class _Out:
    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass
