"""SQLite: the search index without its own copy of the texts (issue #17).

0002's FTS5 table stored every turn's question and answer again (plus the comments), ~500 B
per logged turn, and its triggers wrote them. Here two *contentless* FTS5 tables
(content=''), which keep only the index:

- `workspace_search` (question, answer): one row per turn, rowid from
  `workspace_search_row` (turn ids are UUIDs; FTS5 rows need integers), as before;
- `workspace_comment_search` (comment): one row per feedback comment, rowid from
  `workspace_comment_row` (feedback ids are UUIDs too).

A contentless row is removed or changed with FTS5's 'delete' command, which needs the
values that were indexed: the triggers take them from `old.`, so the index stays exact.
Each table's triggers read only that table and the search tables, never another app's
table: a trigger or view naming chat_turn from chat_feedback would make SQLite refuse the
`ALTER TABLE … RENAME` with which Django rebuilds chat_turn in a later migration.
(Rebuilding a table still drops its own triggers; this migration re-creates them all and
re-indexes from the tables, so it also repairs a database where that happened.)

A turn matches a word when its question, answer or one of its comments has it (search.py
combines the two tables). Snippets and highlight() need stored text, which a contentless
table has not; nothing uses them (the explorer lists turns).

PostgreSQL keeps its stored tsvector (0003): nothing changes there.
"""

import importlib

from django.db import migrations

TOKENIZE = "tokenize = 'porter unicode61 remove_diacritics 2'"

FORWARD = [
    *(
        f"DROP TRIGGER IF EXISTS {name}"
        for name in (
            "workspace_search_turn_insert",
            "workspace_search_turn_update",
            "workspace_search_turn_delete",
            "workspace_search_feedback_insert",
            "workspace_search_feedback_update",
            "workspace_search_feedback_delete",
        )
    ),
    "DROP TABLE IF EXISTS workspace_search",
    # turn ↔ integer row: in step with chat_turn again, even if triggers were lost
    "DELETE FROM workspace_search_row WHERE turn_id NOT IN (SELECT id FROM chat_turn)",
    "INSERT INTO workspace_search_row (turn_id) SELECT id FROM chat_turn"
    " WHERE id NOT IN (SELECT turn_id FROM workspace_search_row)",
    "CREATE TABLE workspace_comment_row ("
    "id INTEGER PRIMARY KEY, feedback_id char(32) NOT NULL UNIQUE)",
    "INSERT INTO workspace_comment_row (feedback_id) SELECT id FROM chat_feedback"
    " WHERE comment <> ''",
    f"CREATE VIRTUAL TABLE workspace_search USING fts5("
    f"question, answer, content = '', columnsize = 0, {TOKENIZE})",
    f"CREATE VIRTUAL TABLE workspace_comment_search USING fts5("
    f"comment, content = '', columnsize = 0, {TOKENIZE})",
    "INSERT INTO workspace_search (rowid, question, answer) SELECT r.id, t.question, t.answer"
    " FROM chat_turn t JOIN workspace_search_row r ON r.turn_id = t.id",
    "INSERT INTO workspace_comment_search (rowid, comment) SELECT r.id, f.comment"
    " FROM chat_feedback f JOIN workspace_comment_row r ON r.feedback_id = f.id",
    # turns
    "CREATE TRIGGER workspace_search_turn_insert AFTER INSERT ON chat_turn BEGIN"
    " INSERT INTO workspace_search_row (turn_id) VALUES (new.id);"
    " INSERT INTO workspace_search (rowid, question, answer)"
    " VALUES (last_insert_rowid(), new.question, new.answer); END",
    "CREATE TRIGGER workspace_search_turn_update AFTER UPDATE OF question, answer ON chat_turn"
    " BEGIN INSERT INTO workspace_search (workspace_search, rowid, question, answer)"
    " SELECT 'delete', id, old.question, old.answer FROM workspace_search_row"
    " WHERE turn_id = old.id;"
    " INSERT INTO workspace_search (rowid, question, answer)"
    " SELECT id, new.question, new.answer FROM workspace_search_row WHERE turn_id = new.id;"
    " END",
    "CREATE TRIGGER workspace_search_turn_delete AFTER DELETE ON chat_turn BEGIN"
    " INSERT INTO workspace_search (workspace_search, rowid, question, answer)"
    " SELECT 'delete', id, old.question, old.answer FROM workspace_search_row"
    " WHERE turn_id = old.id;"
    " DELETE FROM workspace_search_row WHERE turn_id = old.id; END",
    # feedback comments (an empty comment is not indexed)
    "CREATE TRIGGER workspace_search_feedback_insert AFTER INSERT ON chat_feedback"
    " WHEN new.comment <> '' BEGIN"
    " INSERT INTO workspace_comment_row (feedback_id) VALUES (new.id);"
    " INSERT INTO workspace_comment_search (rowid, comment)"
    " VALUES (last_insert_rowid(), new.comment); END",
    "CREATE TRIGGER workspace_search_feedback_update AFTER UPDATE OF comment ON chat_feedback"
    " WHEN old.comment IS NOT new.comment BEGIN"
    " INSERT INTO workspace_comment_search (workspace_comment_search, rowid, comment)"
    " SELECT 'delete', id, old.comment FROM workspace_comment_row WHERE feedback_id = old.id;"
    " DELETE FROM workspace_comment_row WHERE feedback_id = old.id;"
    " INSERT INTO workspace_comment_row (feedback_id) SELECT new.id WHERE new.comment <> '';"
    " INSERT INTO workspace_comment_search (rowid, comment)"
    " SELECT last_insert_rowid(), new.comment WHERE new.comment <> ''; END",
    "CREATE TRIGGER workspace_search_feedback_delete AFTER DELETE ON chat_feedback"
    " WHEN old.comment <> '' BEGIN"
    " INSERT INTO workspace_comment_search (workspace_comment_search, rowid, comment)"
    " SELECT 'delete', id, old.comment FROM workspace_comment_row WHERE feedback_id = old.id;"
    " DELETE FROM workspace_comment_row WHERE feedback_id = old.id; END",
]

BACKWARD_DROP = [
    "DROP TRIGGER IF EXISTS workspace_search_turn_insert",
    "DROP TRIGGER IF EXISTS workspace_search_turn_update",
    "DROP TRIGGER IF EXISTS workspace_search_turn_delete",
    "DROP TRIGGER IF EXISTS workspace_search_feedback_insert",
    "DROP TRIGGER IF EXISTS workspace_search_feedback_update",
    "DROP TRIGGER IF EXISTS workspace_search_feedback_delete",
    "DROP TABLE IF EXISTS workspace_search",
    "DROP TABLE IF EXISTS workspace_comment_search",
    "DROP TABLE IF EXISTS workspace_comment_row",
    "DROP TABLE IF EXISTS workspace_search_row",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    """Back to 0002's table, which stores the texts, filled from the tables."""
    if schema_editor.connection.vendor == "sqlite":
        search_0002 = importlib.import_module("workspace.migrations.0002_search")
        for statement in [*BACKWARD_DROP, *search_0002.SQLITE]:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("workspace", "0005_bulk_job_lease"),
        # after chat's own changes to chat_turn, whose rebuilds would drop these triggers
        ("chat", "0010_question_uid_not_unique"),
    ]

    operations = [migrations.RunPython(forward, backward)]
