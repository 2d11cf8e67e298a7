"""reviewhub.bulk: the COPY path (PostgreSQL, plain inserts of two rows or more) stores exactly
what the INSERT path stores, for the values COPY's text format has to escape."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from chat import services
from chat.models import Turn, TurnContext
from reviewhub import bulk
from workspace.search import search_q

# Characters COPY's text format escapes or treats specially, and text that is not ASCII.
AWKWARD = [
    "tab\there, newline\nthere, carriage return\r, backslash \\ and a literal \\N",
    "quotes ' \" and a comma, | pipe; {braces} [brackets]",
    "unicode: café, Ελληνικά, 日本語, emoji 🧪🚀, combining é, RTL שלום",
    "",
]
METADATA = [
    {"nested": {"list": [1, 2.5, None, True, "ü\\n"]}, "quote": 'say "hi"\t'},
    {"big": 2**70, "negative": -(2**63), "emoji": "🦆", "empty": {}},
    {"null": None, "keys with spaces": "x", "backslash\\key": "\\"},
    {},
]


def _items() -> list[dict]:
    return [
        {
            "question": f"Q{i} {text}",
            "answer": f"A{i} {text}",
            "model": "gpt-4o-mini",
            "system_prompt": text,
            "metadata": METADATA[i],
            "params": {"temperature": 0.2} if i % 2 else {},
            "latency_ms": None if i % 2 else 250,
            "prompt_tokens": None,
            "user": text[:20],
            "created_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
            "context": [
                {"text": f"passage {text}", "source": text, "title": "", "score": None},
                {"text": "second", "source": "", "title": text[:5], "score": 0.25},
            ]
            if i != 3
            else [],
        }
        for i, text in enumerate(AWKWARD)
    ]


def _stored(user) -> list[tuple]:
    turns = Turn.objects.filter(user=user).order_by("question")
    out = []
    for turn in turns:
        contexts = TurnContext.objects.filter(turn=turn).order_by("rank")
        out.append(
            (
                turn.question,
                turn.answer,
                turn.system_prompt,
                turn.metadata,
                turn.params,
                turn.prompt_messages,
                turn.latency_ms,
                turn.prompt_tokens,
                turn.max_context_score,
                turn.grounded,
                turn.external_user,
                turn.created_at,
                turn.completed_at is not None,
                turn.position,
                [(c.rank, c.text, c.source, c.title, c.score, c.chunk_id) for c in contexts],
            )
        )
    return out


@pytest.mark.django_db
def test_copy_path_stores_exactly_what_the_insert_path_stores(
    end_user, expert, monkeypatch
) -> None:
    services.interactions_ingest(user=end_user, items=_items())  # COPY on PostgreSQL
    monkeypatch.setattr(bulk, "COPY_MIN_ROWS", 10**9)  # every insert through INSERT
    services.interactions_ingest(user=expert, items=_items())

    copied, inserted = _stored(end_user), _stored(expert)
    assert len(copied) == len(AWKWARD)
    assert copied == inserted
    assert {row[3]["big"] for row in copied if "big" in row[3]} == {2**70}
    assert any(row[6] is None and row[8] is None for row in copied)  # NULLs stay NULL


@pytest.mark.django_db
def test_turns_stored_in_bulk_are_found_by_search(end_user) -> None:
    """The search document (a row trigger on PostgreSQL, FTS5 triggers on SQLite) is kept for
    rows that arrive by COPY too."""
    items = [
        {"question": f"How do I rotate the {word} key?", "answer": "Like so.", "model": "m"}
        for word in ("zanzibar", "quixotic", "marmalade")
    ]
    services.interactions_ingest(user=end_user, items=items)
    found = Turn.objects.filter(search_q("quixotic"))
    assert [t.question for t in found] == ["How do I rotate the quixotic key?"]


@pytest.mark.django_db
def test_client_ids_sent_as_uuids_are_the_stored_ids(end_user) -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    items = [{"id": i, "question": f"q{n}", "answer": "a", "model": "m"} for n, i in enumerate(ids)]
    results = services.interactions_ingest(user=end_user, items=items)
    assert [r[1] for r in results] == ids
    assert set(Turn.objects.filter(user=end_user).values_list("id", flat=True)) == set(ids)


@pytest.mark.django_db
def test_among_finds_exactly_the_listed_ids_given_as_uuids_or_text(end_user) -> None:
    ids = [uuid.uuid4() for _ in range(4)]
    items = [{"id": i, "question": f"q{n}", "answer": "a", "model": "m"} for n, i in enumerate(ids)]
    services.interactions_ingest(user=end_user, items=items)
    asked = [ids[0], str(ids[2]), uuid.uuid4()]  # one of them never stored
    assert set(Turn.objects.filter(id__among=asked).values_list("id", flat=True)) == {
        ids[0],
        ids[2],
    }
    assert not Turn.objects.filter(id__among=[]).exists()
    assert Turn.objects.exclude(id__among=asked).count() == 2
    # and a retried batch is still told apart by it: stored once, reported as existing
    again = services.interactions_ingest(user=end_user, items=items[:2])
    assert [created for *_, created in again] == [False, False]
    assert Turn.objects.filter(user=end_user).count() == 4


@pytest.mark.django_db
def test_an_upsert_with_a_key_twice_ends_as_rows_sent_one_after_another_would(end_user) -> None:
    """The first row's other columns, the last row's updated ones; re-sending updates."""
    from evaluation.models import Score

    turn = services.interactions_ingest(
        user=end_user, items=[{"question": "q", "answer": "a", "model": "m"}]
    )[0][1]
    version = _evaluator_version()
    first, second, other = (
        {"turn_id": turn, "evaluator_version_id": version.pk, "criterion": c, "value": v}
        | {"reason": r, "created_at": NOW, "updated_at": NOW}
        for c, v, r in (("accuracy", 1.0, "first"), ("accuracy", 3.0, "last"), ("tone", 2.0, "x"))
    )
    update = ("value", "reason")
    assert bulk.upsert(Score, [first, second, other], unique=UNIQUE, update=update) == 3
    stored = {s.criterion: (s.value, s.reason) for s in Score.objects.filter(turn_id=turn)}
    assert stored == {"accuracy": (3.0, "last"), "tone": (2.0, "x")}
    bulk.upsert(Score, [first | {"value": 5.0}, other], unique=UNIQUE, update=update)
    stored = {s.criterion: (s.value, s.reason) for s in Score.objects.filter(turn_id=turn)}
    assert stored == {"accuracy": (5.0, "first"), "tone": (2.0, "x")}


UNIQUE = ("turn_id", "evaluator_version_id", "criterion")
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _evaluator_version():
    from evaluation.models import Evaluator, EvaluatorVersion

    evaluator = Evaluator.objects.create(name="bulk-test", kind="offline")
    return EvaluatorVersion.objects.create(evaluator=evaluator, criteria=[])


@pytest.mark.django_db
def test_rows_with_different_keys_each_keep_their_values_and_defaults_fill_the_rest() -> None:
    from outbox.models import OutboxEntry

    rows = [
        {"entity": "turn", "entity_id": "a", "created_at": NOW},
        {"entity": "turn", "entity_id": "b", "created_at": NOW, "attempts": 2},
        {"entity_id": "c", "created_at": NOW, "entity": "example", "last_error": "boom"},
        {"entity": "turn", "entity_id": "d", "last_error": "x", "created_at": NOW},
    ]
    assert bulk.insert(OutboxEntry, rows) == 4
    assert bulk.insert(OutboxEntry, [rows[0] | {"entity_id": "e"}, rows[3] | {"entity_id": "f"}])
    # as many keys, not the same ones
    assert bulk.insert(OutboxEntry, [rows[1] | {"entity_id": "g"}, rows[3] | {"entity_id": "h"}])
    stored = {
        e.entity_id: (e.entity, e.attempts, e.last_error)
        for e in OutboxEntry.objects.filter(entity_id__in="abcdefgh")
    }
    assert stored == {
        "a": ("turn", 0, ""),
        "b": ("turn", 2, ""),
        "c": ("example", 0, "boom"),
        "d": ("turn", 0, "x"),
        "e": ("turn", 0, ""),
        "f": ("turn", 0, "x"),
        "g": ("turn", 2, ""),
        "h": ("turn", 0, "x"),
    }


@pytest.mark.django_db
def test_a_duplicate_key_is_an_integrity_error_and_stores_nothing(end_user) -> None:
    """What the API's retry of a concurrent duplicate client id catches, on either path."""
    from django.db import IntegrityError, transaction

    from outbox.models import OutboxEntry

    first = services.interactions_ingest(
        user=end_user, items=[{"question": "q", "answer": "a", "model": "m"}]
    )[0][1]
    row = Turn.objects.values().get(pk=first)
    copies = [row | {"question_uid": uuid.uuid4()}, row | {"id": uuid.uuid4()}]
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk.insert(OutboxEntry, [{"entity": "turn", "entity_id": "x", "created_at": NOW}] * 2)
        bulk.insert(Turn, copies)
    assert Turn.objects.count() == 1
    assert not OutboxEntry.objects.filter(entity_id="x").exists()


@pytest.mark.django_db
def test_rows_sent_over_several_statements_are_all_stored_and_a_watched_insert_is_logged(
    end_user, monkeypatch
) -> None:
    """SQLite sends the rows as multi-row INSERTs, as many per statement as fit: a batch split
    over several stores every row, an upsert's key repeated in a later statement ends as rows
    sent one after another would, and a query log (a test's, DEBUG's) sees the statements."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from evaluation.models import Score
    from outbox.models import OutboxEntry

    monkeypatch.setattr(bulk, "MAX_ROWS_PER_STATEMENT", 3)
    rows = [
        {"entity": "turn", "entity_id": f"split-{i:02d}", "created_at": NOW, "attempts": i}
        for i in range(10)
    ]
    assert bulk.insert(OutboxEntry, rows) == 10
    stored = OutboxEntry.objects.filter(entity_id__startswith="split-").order_by("entity_id")
    assert [(e.entity_id, e.attempts) for e in stored] == [(f"split-{i:02d}", i) for i in range(10)]

    turn = services.interactions_ingest(
        user=end_user, items=[{"question": "q", "answer": "a", "model": "m"}]
    )[0][1]
    version = _evaluator_version()
    scores = [
        {"turn_id": turn, "evaluator_version_id": version.pk, "criterion": f"c{i % 5}"}
        | {"value": float(i), "reason": f"r{i}", "created_at": NOW, "updated_at": NOW}
        for i in range(7)  # c0 and c1 come back in the third statement
    ]
    bulk.upsert(Score, scores, unique=UNIQUE, update=("value", "reason"))
    stored = {s.criterion: (s.value, s.reason) for s in Score.objects.filter(turn_id=turn)}
    assert stored == {
        "c0": (5.0, "r5"),
        "c1": (6.0, "r6"),
        "c2": (2.0, "r2"),
        "c3": (3.0, "r3"),
        "c4": (4.0, "r4"),
    }

    with CaptureQueriesContext(connection) as log:
        bulk.insert(OutboxEntry, [r | {"entity_id": r["entity_id"] + "-logged"} for r in rows])
    assert OutboxEntry.objects.filter(entity_id__endswith="-logged").count() == 10
    if connection.vendor == "sqlite":
        assert sum("graph_outboxentry" in q["sql"] for q in log.captured_queries) == 4
