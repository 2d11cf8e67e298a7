"""The explorer's search and filters: one contract on SQLite (FTS5) and PostgreSQL
(full-text search). CI runs this file on both databases."""

from __future__ import annotations

import base64
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotations.models import QueueItem
from chat.models import Conversation, Feedback, Topic
from chat.services import feedback_set
from tests.factories import make_turn
from workspace.selectors import ExplorerFilters, explorer_page, explorer_turns

pytestmark = pytest.mark.django_db


def found(viewer, **filters) -> set[str]:
    turns = explorer_turns(viewer=viewer, filters=ExplorerFilters(**filters))
    return {t.question for t in turns}


@pytest.fixture
def corpus(end_user, other_user):
    make_turn(end_user, question="How do I get a refund?", answer="Refunds take five days.")
    make_turn(
        end_user, question="Reset my password", answer="Use the reset link on the login page."
    )
    make_turn(
        other_user,
        question="Invoice for March",
        answer="Invoices are emailed monthly.",
        feedback="down",
    )  # its comment reads "not helpful"
    make_turn(other_user, question="Refund and invoice together?", answer="Yes, both at once.")


def test_words_are_found_in_questions_answers_and_feedback_comments(corpus, expert):
    assert found(expert, q="password") == {"Reset my password"}
    assert found(expert, q="login") == {"Reset my password"}  # in the answer only
    assert found(expert, q="helpful") == {"Invoice for March"}  # in a feedback comment only


def test_words_may_come_from_different_parts_of_a_turn(corpus, expert):
    assert found(expert, q="invoice helpful") == {"Invoice for March"}  # question + comment
    assert found(expert, q="reset login") == {"Reset my password"}  # question + answer


def test_search_is_stemmed_and_case_insensitive(corpus, expert):
    assert found(expert, q="REFUNDED") == {"How do I get a refund?", "Refund and invoice together?"}
    assert found(expert, q="invoices") == {"Invoice for March", "Refund and invoice together?"}


def test_every_word_must_match_and_a_minus_excludes(corpus, expert):
    assert found(expert, q="refund invoice") == {"Refund and invoice together?"}
    assert found(expert, q="refund -invoice") == {"How do I get a refund?"}
    assert found(expert, q="password or monthly") == {"Reset my password", "Invoice for March"}
    assert found(expert, q='"reset link"') == {"Reset my password"}
    assert found(expert, q='"link reset"') == set()


def test_stop_words_alone_do_not_filter_and_symbols_are_not_syntax(corpus, expert):
    assert len(found(expert, q="the of")) == 4
    assert found(expert, q='refund" OR "*') == found(expert, q="refund")
    assert found(expert, q="NEAR(refund) AND") == found(expert, q="refund near")


def test_comments_and_edits_made_later_are_searchable_and_deleted_turns_are_gone(end_user, expert):
    turn = make_turn(end_user, question="Where is the manual?", answer="Online.")
    assert found(expert, q="outdated") == set()
    feedback_set(turn=turn, user=end_user, rating="down", comment="The link is outdated")
    assert found(expert, q="outdated") == {"Where is the manual?"}
    Feedback.objects.filter(turn=turn).update(comment="fine now")
    Feedback.objects.filter(turn=turn).first().save()  # an ORM save fires the same path
    assert found(expert, q="outdated") == set()
    turn.delete()
    assert found(expert, q="manual") == set()


def test_end_users_search_only_their_own_turns(corpus, end_user, other_user):
    assert found(end_user, q="refund") == {"How do I get a refund?"}
    assert found(other_user, q="refund") == {"Refund and invoice together?"}
    assert found(end_user, q="invoice") == set()


def test_each_filter_narrows_the_list(end_user, other_user, expert):
    topic = Topic.objects.create(name="billing")
    make_turn(end_user, question="old", age_minutes=60 * 24 * 10, model="m-old")
    make_turn(end_user, question="grounded one", grounded=True, topic=topic)
    make_turn(other_user, question="ungrounded one", grounded=False, feedback="up")
    api = make_turn(other_user, question="from the api", grounded=False)
    Conversation.objects.filter(pk=api.conversation_id).update(source="api")
    api.source = "api"
    api.save(update_fields=["source"])
    make_turn(end_user, question="never queued", refresh=False)
    QueueItem.objects.filter(turn__question="grounded one").update(state="approved")

    today = timezone.localdate()
    assert found(expert, date_to=today - timedelta(days=5)) == {"old"}
    assert "old" not in found(expert, date_from=today - timedelta(days=1))
    assert found(expert, model="m-old") == {"old"}
    assert found(expert, source="api") == {"from the api"}
    assert found(expert, grounded=False) == {"ungrounded one", "from the api"}
    assert found(expert, topic_id=topic.pk) == {"grounded one"}
    assert found(expert, rating="up") == {"ungrounded one"}
    assert "ungrounded one" not in found(expert, rating="none")
    assert found(expert, review="approved") == {"grounded one"}
    assert found(expert, review="none") == {"never queued"}
    assert found(expert, username=other_user.username) == {"ungrounded one", "from the api"}
    assert found(expert, q="one", grounded=False) == {"ungrounded one"}


def test_keyset_pages_cover_every_match_once_without_offset(end_user, expert):
    for i in range(23):
        make_turn(end_user, question=f"refund question {i}", age_minutes=i % 3)  # ties in time
    make_turn(end_user, question="something else")
    expert.has_perm("accounts.review")  # the role lookup is cached per user, not per page
    seen, cursor = [], ""
    with CaptureQueriesContext(connection) as queries:
        while True:
            page = explorer_page(
                viewer=expert, filters=ExplorerFilters(q="refund"), cursor=cursor, size=5
            )
            seen += [t.question for t in page.rows]
            assert page.count == 23 and page.count_exact
            cursor = page.next_cursor
            if not cursor:
                break
    assert len(seen) == 23 and len(set(seen)) == 23
    assert not any("OFFSET" in q["sql"].upper() for q in queries.captured_queries)
    # the first page: rows and the count; each later page: its rows (the count rides along)
    assert len(queries.captured_queries) == 2 + 4


def test_the_count_stops_being_exact_past_the_cap(end_user, expert, monkeypatch):
    from workspace import selectors

    monkeypatch.setattr(selectors, "COUNT_EXACT_UP_TO", 3)
    for _ in range(5):
        make_turn(end_user)
    page = explorer_page(viewer=expert, filters=ExplorerFilters(), size=2)
    assert (page.count, page.count_exact) == (3, False)
    make_turn(end_user)  # a later page repeats the first page's count, it does not recount
    later = explorer_page(viewer=expert, filters=ExplorerFilters(), cursor=page.next_cursor)
    assert (later.count, later.count_exact) == (3, False)
    assert len(later.rows) == 3


def test_a_cursor_that_was_tampered_with_is_refused(end_user, expert):
    for _ in range(3):
        make_turn(end_user)
    page = explorer_page(viewer=expert, filters=ExplorerFilters(), size=1)
    raw = base64.urlsafe_b64decode(page.next_cursor + "==").decode()
    forged = base64.urlsafe_b64encode((raw.rsplit("|", 1)[0] + "|x").encode()).decode()
    with pytest.raises(ValidationError):
        explorer_page(viewer=expert, filters=ExplorerFilters(), cursor=forged)


def test_a_date_range_includes_both_end_days(end_user, expert):
    make_turn(end_user, question="today")
    today = date.today()
    assert found(expert, date_from=today, date_to=today) == {"today"}


def _indexed_words() -> set[str]:
    """Every word the SQLite search indexes hold (question, answer and comment rows)."""
    words: set[str] = set()
    with connection.cursor() as cursor:
        for table in ("workspace_search", "workspace_comment_search"):
            cursor.execute(f"CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, {table}, row)")
            cursor.execute("SELECT term FROM temp.vocab WHERE cnt > 0")
            words |= {term for (term,) in cursor.fetchall()}
            cursor.execute("DROP TABLE temp.vocab")
            cursor.execute(f"INSERT INTO {table} ({table}) VALUES ('integrity-check')")
    return words


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the FTS5 index is SQLite's")
def test_edited_and_deleted_texts_leave_nothing_behind_in_the_index(end_user, other_user, expert):
    """The index keeps no copy of the texts, so it forgets a word through the exact values
    it indexed: an edit, a changed or removed comment and a deleted turn leave no trace."""
    turn = make_turn(end_user, question="Zebra crossing rules?", answer="Stop for walkers.")
    feedback_set(turn=turn, user=end_user, rating="down", comment="quokka")
    feedback_set(turn=turn, user=other_user, rating="up", comment="wombat ok")
    assert {"zebra", "walker", "quokka", "wombat"} <= _indexed_words()

    turn.question, turn.answer = "Giraffe crossing rules?", "Yield."
    turn.save(update_fields=["question", "answer"])
    feedback_set(turn=turn, user=end_user, rating="down", comment="platypus")
    Feedback.objects.filter(turn=turn, user=other_user).update(comment="")
    words = _indexed_words()
    assert {"giraff", "yield", "platypu"} <= words
    assert not {"zebra", "walker", "quokka", "wombat"} & words
    assert found(expert, q="giraffe platypus") == {"Giraffe crossing rules?"}

    turn.delete()
    assert not {"giraff", "yield", "platypu", "cross"} & _indexed_words()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the FTS5 index is SQLite's")
@pytest.mark.django_db(transaction=True)  # migrations run outside a test transaction
def test_turns_logged_before_the_index_changed_are_found_after_it(roles_seeded, end_user, expert):
    """Migration 0006 indexes the turns and comments already there (and, going back, 0002's
    table is filled again)."""
    from django.db.migrations.executor import MigrationExecutor

    turn = make_turn(end_user, question="Llama shearing season?", answer="In spring.")
    feedback_set(turn=turn, user=end_user, rating="down", comment="alpaca too")
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("workspace")
    try:
        executor.migrate([("workspace", "0005_bulk_job_lease")])
        with connection.cursor() as cursor:  # 0002's table holds the turn again
            cursor.execute(
                "SELECT count(*) FROM workspace_search WHERE workspace_search MATCH %s", ["alpaca"]
            )
            assert cursor.fetchone()[0] == 1
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
    assert found(expert, q="alpaca spring") == {"Llama shearing season?"}
    assert found(expert, q="llama -alpaca") == set()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite rebuilds a table to alter it")
@pytest.mark.django_db(transaction=True)  # migrations run outside a test transaction
def test_a_database_upgraded_past_a_rebuild_of_chat_turn_still_indexes_new_turns(
    roles_seeded, end_user, expert
):
    """chat 0011 rebuilds chat_turn on SQLite, which loses the table's triggers; a database
    migrated in that order (the search index already there) gets them back (workspace 0007)."""
    from django.db.migrations.executor import MigrationExecutor

    make_turn(end_user, question="Alpaca fleece care?", answer="Wash it cold.")
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate([("workspace", "0006_search_index_without_text_copies")])
        executor = MigrationExecutor(connection)
        executor.migrate([("chat", "0010_question_uid_not_unique")])
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)  # chat 0011 after the search index: the upgrade's order
    make_turn(end_user, question="Llama wool care?", answer="Brush it dry.")
    assert found(expert, q="care") == {"Alpaca fleece care?", "Llama wool care?"}
    assert found(expert, q="brush") == {"Llama wool care?"}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the stored tsvector is PostgreSQL's")
def test_a_logged_turns_stored_document_is_the_one_the_document_function_makes(end_user, expert):
    """The insert trigger makes the document inline (workspace 0008); it must be exactly what
    the function makes, which an edit or a comment recomputes it with."""
    turn = make_turn(end_user, question="Running shoes for trails?", answer="Grippy soles help.")
    commented = make_turn(end_user, question="Hiking boots?", answer="Waterproof ones.")
    feedback_set(turn=commented, user=end_user, rating="down", comment="blisters again")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, search_document::text FROM chat_turn WHERE search_document"
            " IS DISTINCT FROM workspace_turn_document(question, answer, id)"
        )
        assert cursor.fetchall() == []
        cursor.execute("SELECT search_document::text FROM chat_turn WHERE id = %s", [turn.id])
        assert cursor.fetchone()[0] == "'grippi':5 'help':7 'run':1 'shoe':2 'sole':6 'trail':4"
    assert found(expert, q="blisters") == {"Hiking boots?"}


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite rebuilds a table to alter it")
@pytest.mark.django_db(transaction=True)
def test_migrate_rebuilds_the_index_when_a_table_rebuild_lost_its_triggers(
    roles_seeded, end_user, expert
):
    """Any later migration that rebuilds chat_turn drops the index's triggers; `migrate`
    notices and builds the index again, so turns logged meanwhile are found too."""
    from django.core.management import call_command

    from workspace.search import SQLITE_TRIGGERS

    make_turn(end_user, question="Alpaca fleece care?", answer="Wash it cold.")
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER workspace_search_turn_insert")  # as a rebuild would
    make_turn(end_user, question="Llama wool care?", answer="Brush it dry.")
    assert found(expert, q="brush") == set()  # lost: the index never saw it
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        assert set(SQLITE_TRIGGERS) <= {row[0] for row in cursor.fetchall()}
    make_turn(end_user, question="Vicuna yarn care?", answer="Dry it flat.")
    assert found(expert, q="care") == {
        "Alpaca fleece care?",
        "Llama wool care?",
        "Vicuna yarn care?",
    }
    assert found(expert, q="dry") == {"Llama wool care?", "Vicuna yarn care?"}
