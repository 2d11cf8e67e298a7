"""PostgreSQL: a stored tsvector per turn (question, answer and its feedback comments),
kept by triggers, instead of GIN indexes over to_tsvector expressions (see workspace/search.py
for why). SQLite keeps its FTS5 table from 0002; nothing changes there.

- `chat_turn.search_document` is not a Django field (chat owns the model; only this app
  reads the column, through `search.TurnDocument`). A BEFORE trigger sets it when a turn is
  logged or its question/answer change; AFTER triggers on chat_feedback recompute it when a
  comment is added, changed or removed — the same document SQLite's FTS5 row holds.
- `chat_turn (created_at, id)`: the explorer's keyset order as one index, so a page walks
  it and stops after 51 matches instead of sorting ties on id.
"""

from django.db import migrations

TURN_GIN, COMMENT_GIN = "turn_search", "feedback_comment_search"  # from 0002, dropped here

DOCUMENT = """
CREATE FUNCTION workspace_turn_document(question text, answer text, turn uuid)
RETURNS tsvector LANGUAGE sql STABLE AS $$
    SELECT to_tsvector('english'::regconfig, coalesce(question, '') || ' ' || coalesce(answer, ''))
        || coalesce((SELECT to_tsvector('english'::regconfig, string_agg(f.comment, ' '))
                     FROM chat_feedback f WHERE f.turn_id = turn AND f.comment <> ''),
                    ''::tsvector)
$$"""

TURN_TRIGGER = """
CREATE FUNCTION workspace_turn_document_set() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- a new turn has no feedback yet: skip the comments lookup on the logging path
    NEW.search_document := workspace_turn_document(
        NEW.question, NEW.answer, CASE WHEN TG_OP = 'UPDATE' THEN NEW.id END);
    RETURN NEW;
END $$;
CREATE TRIGGER workspace_turn_document BEFORE INSERT OR UPDATE OF question, answer
    ON chat_turn FOR EACH ROW EXECUTE FUNCTION workspace_turn_document_set();
"""

FEEDBACK_TRIGGERS = """
CREATE FUNCTION workspace_feedback_document_set() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_turn uuid := CASE WHEN TG_OP <> 'INSERT' THEN OLD.turn_id END;
    new_turn uuid := CASE WHEN TG_OP <> 'DELETE' THEN NEW.turn_id END;
BEGIN
    UPDATE chat_turn t SET search_document = workspace_turn_document(t.question, t.answer, t.id)
    WHERE t.id = old_turn OR t.id = new_turn;
    RETURN NULL;
END $$;
CREATE TRIGGER workspace_feedback_document_insert AFTER INSERT ON chat_feedback
    FOR EACH ROW WHEN (NEW.comment <> '') EXECUTE FUNCTION workspace_feedback_document_set();
CREATE TRIGGER workspace_feedback_document_update AFTER UPDATE OF comment, turn_id
    ON chat_feedback FOR EACH ROW
    WHEN (OLD.comment IS DISTINCT FROM NEW.comment OR OLD.turn_id IS DISTINCT FROM NEW.turn_id)
    EXECUTE FUNCTION workspace_feedback_document_set();
CREATE TRIGGER workspace_feedback_document_delete AFTER DELETE ON chat_feedback
    FOR EACH ROW WHEN (OLD.comment <> '') EXECUTE FUNCTION workspace_feedback_document_set();
"""

FORWARD = [
    f"DROP INDEX IF EXISTS {TURN_GIN}",
    f"DROP INDEX IF EXISTS {COMMENT_GIN}",
    "ALTER TABLE chat_turn ADD COLUMN search_document tsvector",
    DOCUMENT,
    # Filled by rewriting the table once (as ALTER … TYPE does), not by an UPDATE, which
    # would leave a dead copy of every row and insert each into every index.
    "ALTER TABLE chat_turn ALTER COLUMN search_document TYPE tsvector"
    " USING workspace_turn_document(question, answer, id)",
    TURN_TRIGGER,
    FEEDBACK_TRIGGERS,
    "CREATE INDEX turn_search_document ON chat_turn USING gin (search_document)",
    "CREATE INDEX turn_created_id ON chat_turn (created_at, id)",
]

BACKWARD = [
    "DROP INDEX IF EXISTS turn_created_id",
    "DROP TRIGGER IF EXISTS workspace_feedback_document_insert ON chat_feedback",
    "DROP TRIGGER IF EXISTS workspace_feedback_document_update ON chat_feedback",
    "DROP TRIGGER IF EXISTS workspace_feedback_document_delete ON chat_feedback",
    "DROP FUNCTION IF EXISTS workspace_feedback_document_set()",
    "DROP TRIGGER IF EXISTS workspace_turn_document ON chat_turn",
    "DROP FUNCTION IF EXISTS workspace_turn_document_set()",
    "DROP FUNCTION IF EXISTS workspace_turn_document(text, text, uuid)",
    "ALTER TABLE chat_turn DROP COLUMN IF EXISTS search_document",
    f"CREATE INDEX {TURN_GIN} ON chat_turn USING gin ("
    "to_tsvector('english'::regconfig, COALESCE(question, '') || ' ' || COALESCE(answer, '')))",
    f"CREATE INDEX {COMMENT_GIN} ON chat_feedback USING gin ("
    "to_tsvector('english'::regconfig, COALESCE(comment, '')))",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("workspace", "0002_search")]

    operations = [migrations.RunPython(forward, backward)]
