"""Full-text search indexes (see workspace/search.py).

PostgreSQL: GIN indexes over the same to_tsvector expressions the search uses, built with
Django's own index SQL (replaced on PostgreSQL by a stored document in 0003).
SQLite: an FTS5 table (one row per turn: question, answer, its feedback comments), a map
from turn id to FTS rowid (turn ids are UUIDs, FTS5 rows need integers), and triggers that
keep both in step with chat_turn and chat_feedback; existing turns are indexed here.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations

TURN_INDEX, COMMENT_INDEX = "turn_search", "feedback_comment_search"

_ROW = "(SELECT id FROM workspace_search_row WHERE turn_id = {side}.{column})"
_COMMENTS = (
    "COALESCE((SELECT group_concat(comment, ' ') FROM chat_feedback"
    " WHERE turn_id = {side}.turn_id), '')"
)
SQLITE = [
    "CREATE TABLE workspace_search_row (id INTEGER PRIMARY KEY, turn_id char(32) NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE workspace_search USING fts5("
    "question, answer, comments, tokenize = 'porter unicode61 remove_diacritics 2')",
    "INSERT INTO workspace_search_row (turn_id) SELECT id FROM chat_turn",
    "INSERT INTO workspace_search (rowid, question, answer, comments)"
    " SELECT r.id, t.question, t.answer, "
    + _COMMENTS.format(side="r")
    + " FROM chat_turn t JOIN workspace_search_row r ON r.turn_id = t.id",
    "CREATE TRIGGER workspace_search_turn_insert AFTER INSERT ON chat_turn BEGIN"
    " INSERT INTO workspace_search_row (turn_id) VALUES (new.id);"
    " INSERT INTO workspace_search (rowid, question, answer, comments) VALUES ("
    + _ROW.format(side="new", column="id")
    + ", new.question, new.answer, ''); END",
    "CREATE TRIGGER workspace_search_turn_update AFTER UPDATE OF question, answer ON chat_turn"
    " BEGIN UPDATE workspace_search SET question = new.question, answer = new.answer"
    " WHERE rowid = " + _ROW.format(side="new", column="id") + "; END",
    "CREATE TRIGGER workspace_search_turn_delete AFTER DELETE ON chat_turn BEGIN"
    " DELETE FROM workspace_search WHERE rowid = "
    + _ROW.format(side="old", column="id")
    + "; DELETE FROM workspace_search_row WHERE turn_id = old.id; END",
    *(
        f"CREATE TRIGGER workspace_search_feedback_{event.split()[0].lower()} AFTER {event}"
        f" ON chat_feedback BEGIN UPDATE workspace_search SET comments = "
        + _COMMENTS.format(side=side)
        + " WHERE rowid = "
        + _ROW.format(side=side, column="turn_id")
        + "; END"
        for event, side in (("INSERT", "new"), ("UPDATE OF comment", "new"), ("DELETE", "old"))
    ),
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS workspace_search_turn_insert",
    "DROP TRIGGER IF EXISTS workspace_search_turn_update",
    "DROP TRIGGER IF EXISTS workspace_search_turn_delete",
    "DROP TRIGGER IF EXISTS workspace_search_feedback_insert",
    "DROP TRIGGER IF EXISTS workspace_search_feedback_update",
    "DROP TRIGGER IF EXISTS workspace_search_feedback_delete",
    "DROP TABLE IF EXISTS workspace_search",
    "DROP TABLE IF EXISTS workspace_search_row",
]


def _indexes():
    # The expressions search.py queried until 0003 replaced them with a stored document.
    return (
        ("Turn", GinIndex(SearchVector("question", "answer", config="english"), name=TURN_INDEX)),
        ("Feedback", GinIndex(SearchVector("comment", config="english"), name=COMMENT_INDEX)),
    )


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for model_name, index in _indexes():
            schema_editor.add_index(apps.get_model("chat", model_name), index)
    elif vendor == "sqlite":
        for statement in SQLITE:
            schema_editor.execute(statement)


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for model_name, index in _indexes():
            schema_editor.remove_index(apps.get_model("chat", model_name), index)
    elif vendor == "sqlite":
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("workspace", "0001_initial"),
        ("chat", "0005_model_endpoints"),
    ]

    operations = [migrations.RunPython(create, drop)]
