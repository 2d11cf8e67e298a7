"""Full-text search over logged turns: their question, their answer and the comments people
left on them. One contract, two engines:

- PostgreSQL: full-text search (`websearch_to_tsquery`, English stemming and stop words)
  over `chat_turn.search_document`, a stored tsvector of the question, the answer and the
  feedback comments, GIN-indexed and kept by triggers (this app's migration 0003);
- SQLite: FTS5 (porter stemming) over the same three texts, kept in sync with chat_turn
  and chat_feedback by triggers (migrations 0002 and 0006, SQLite only): two contentless
  indexes, one over questions and answers (a row per turn) and one over comments (a row
  per comment), which store no copy of the texts. A query is taken apart into its words and
  phrases; each finds the turns whose question, answer or a comment has it, and the sets
  are combined as the query says (INTERSECT for "and", UNION for "or", EXCEPT for "-").

Contract (`search_q`): a turn matches when its question, answer and feedback comments,
taken together, contain every word of the query (case-insensitive, stemmed: "refunds"
finds "refund"), except words after a minus ("-invoice"); a "quoted phrase" must appear as
a phrase; "or" between words means either. Words that carry no meaning ("the", "of") are
ignored on both engines. Order and pagination are the caller's (the explorer: newest first).

Why a stored document on PostgreSQL (measured at 1M turns, bench/bench_search.py): with a
GIN index over a to_tsvector expression, every row a query tested outside the index
recomputed to_tsvector (~6 µs each: 0.5 s to count a common word's matches in a month),
and comment matches needed a second query per page (a turn matched by a comment is a
different row than its text). A stored tsvector is read, not computed, and one document
per turn makes the search one condition on the turn: the planner walks the
(created_at, id) index and stops after a page, or starts from the GIN index, whichever is
cheaper (a page's rows: under 2 ms on a quiet database). Newest first, not by relevance:
ranking every match of a common word would read all of them for one page.
"""

from __future__ import annotations

import importlib
import re

from django.contrib.postgres.search import SearchQuery, SearchVectorExact, SearchVectorField
from django.db import connection, connections, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Expression, Q
from django.db.models.expressions import RawSQL

from chat.models import Turn

CONFIG = "english"
DOCUMENT_COLUMN = "search_document"
FTS_TABLE, FTS_ROWS = "workspace_search", "workspace_search_row"
COMMENT_FTS_TABLE, COMMENT_ROWS = "workspace_comment_search", "workspace_comment_row"

# PostgreSQL's English stop words (snowball), so both engines ignore the same words.
STOP_WORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which
    who whom this that these those am is are was were be been being have has had having do
    does did doing a an the and but if or because as until while of at by for with about
    against between into through during before after above below to from up down in out on
    off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will
    just don should now""".split()
)
_TOKEN = re.compile(r'(-?)"([^"]*)"|(\S+)')
_WORD = re.compile(r"\w+", re.UNICODE)


class TurnDocument(Expression):
    """`chat_turn.search_document` (PostgreSQL only): a column the database keeps, not a
    Django field, so it is written out against the turn table's alias in this query."""

    output_field = SearchVectorField()

    def __init__(self, alias: str = Turn._meta.db_table) -> None:
        super().__init__()
        self.alias = alias

    def resolve_expression(self, query=None, *args, **kwargs):
        return TurnDocument(query.get_initial_alias() if query is not None else self.alias)

    def relabeled_clone(self, change_map):
        return TurnDocument(change_map.get(self.alias, self.alias))

    def as_sql(self, compiler, connection):
        quote = compiler.quote_name_unless_alias
        return f"{quote(self.alias)}.{connection.ops.quote_name(DOCUMENT_COLUMN)}", []


def search_q(text: str) -> Q | None:
    """A filter on Turn for the query text; None when the text has no searchable word."""
    if not any(w.lower() not in STOP_WORDS for w in _WORD.findall(text or "")):
        return None
    if connection.vendor == "postgresql":
        query = SearchQuery(text, search_type="websearch", config=CONFIG)
        return Q(SearchVectorExact(TurnDocument(), query))
    return _sqlite_q(text)


def fts5_terms(text: str) -> tuple[list[list[str]], list[str]]:
    """(an OR of ANDs of terms that must match, terms that must not), each term a quoted
    FTS5 phrase, with websearch_to_tsquery's meaning; every word is quoted, so nothing a
    user types is read as FTS5 syntax."""
    clauses: list[list[str]] = [[]]  # an OR of ANDs
    negated: list[str] = []
    for match in _TOKEN.finditer(text):
        minus, phrase, word = match.groups()
        if word is not None:
            minus, phrase = ("-", word[1:]) if word.startswith("-") else ("", word)
            if not minus and phrase.lower() == "or":
                if clauses[-1]:
                    clauses.append([])
                continue
        words = [w for w in _WORD.findall(phrase) if w.lower() not in STOP_WORDS]
        if not words:
            continue
        quoted = '"' + " ".join(w.replace('"', '""') for w in words) + '"'
        (negated if minus else clauses[-1]).append(quoted)
    return [c for c in clauses if c], negated


def _sqlite_q(text: str) -> Q:
    clauses, negated = fts5_terms(text)
    params: list[str] = []

    def turns_with(term: str) -> str:
        params.extend((term, term))
        return f"SELECT * FROM ({_TERM_SQL})"

    def all_of(terms: list[str]) -> str:
        return "SELECT * FROM (" + " INTERSECT ".join(turns_with(t) for t in terms) + ")"

    positive = " UNION ".join(all_of(clause) for clause in clauses)
    negative = " UNION ".join(turns_with(t) for t in negated)
    if positive and negative:
        return Q(id__in=RawSQL(f"{positive} EXCEPT SELECT * FROM ({negative})", params))
    if positive:
        return Q(id__in=RawSQL(positive, params))
    return ~Q(id__in=RawSQL(negative, params))  # only exclusions


# The turns whose question or answer has the term, and those with a comment that has it.
_TERM_SQL = (
    f"SELECT r.turn_id FROM {FTS_TABLE} JOIN {FTS_ROWS} r ON r.id = {FTS_TABLE}.rowid"
    f" WHERE {FTS_TABLE} MATCH %s"
    f" UNION SELECT f.turn_id FROM {COMMENT_FTS_TABLE}"
    f" JOIN {COMMENT_ROWS} c ON c.id = {COMMENT_FTS_TABLE}.rowid"
    f" JOIN chat_feedback f ON f.id = c.feedback_id WHERE {COMMENT_FTS_TABLE} MATCH %s"
)


# --- SQLite: the index's triggers, made again when a table rebuild lost them -------------------

# Django alters a table on SQLite by rebuilding it (a new table, the rows copied, renamed), and
# the rebuilt table has none of the old one's triggers: after a migration that rebuilds
# chat_turn or chat_feedback, turns and comments would stop reaching the index, silently.
# workspace 0007 repairs the one such migration so far (chat 0011); this repairs any later one.
SQLITE_TRIGGERS = tuple(
    f"workspace_search_{table}_{event}"
    for table in ("turn", "feedback")
    for event in ("insert", "update", "delete")
)
SQLITE_LAYOUT = ("workspace", "0006_search_index_without_text_copies")  # the layout made here


def sqlite_index_repair(using: str = "default") -> bool:
    """After `migrate` on SQLite: when any of the index's triggers is missing, build the
    index again from the tables and make the triggers (0006's forward SQL), in one
    transaction. True when it had to. Nothing to do on PostgreSQL (it alters in place) or
    before 0006's layout exists (a migration that changes that layout changes this too)."""
    db = connections[using]
    if db.vendor != "sqlite" or SQLITE_LAYOUT not in MigrationRecorder(db).applied_migrations():
        return False
    with db.cursor() as cursor:
        marks = ", ".join(["%s"] * len(SQLITE_TRIGGERS))
        cursor.execute(
            f"SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN ({marks})",
            SQLITE_TRIGGERS,
        )
        if len(cursor.fetchall()) == len(SQLITE_TRIGGERS):
            return False
    layout = importlib.import_module(f"workspace.migrations.{SQLITE_LAYOUT[1]}")
    with transaction.atomic(using=using), db.cursor() as cursor:
        for statement in [
            f"DROP TABLE IF EXISTS {COMMENT_FTS_TABLE}",  # 0006 makes these two anew
            f"DROP TABLE IF EXISTS {COMMENT_ROWS}",
            *layout.FORWARD,
        ]:
            cursor.execute(statement)
    return True
