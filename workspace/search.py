"""Full-text search over logged turns: their question, their answer and the comments people
left on them. One contract, two engines:

- PostgreSQL: full-text search (`SearchVector`/`SearchQuery`, English stemming and stop
  words) over GIN indexes on the same `to_tsvector` expressions (created by this app's
  migration 0002 with Django's own index SQL, so query and index cannot drift apart);
- SQLite: an FTS5 table (porter stemming) kept in sync with chat_turn and chat_feedback by
  triggers (same migration, SQLite only).

Contract (`search_q`): a turn matches when its question, its answer or any of its feedback
comments contains every word of the query (case-insensitive, stemmed: "refunds" finds
"refund"), except words after a minus ("-invoice"); a "quoted phrase" must appear as a
phrase; "or" between words means either. Words that carry no meaning ("the", "of") are
ignored on both engines. Order and pagination are the caller's (the explorer: newest first).

Newest first, not by relevance: the GIN index is over an expression (no stored tsvector
column to keep in sync on the ingestion path), so ranking every match recomputes its
tsvector — seconds for a common word at 1M turns — while a page in time order reads only
the rows it shows.
"""

from __future__ import annotations

import re

from django.contrib.postgres.search import SearchQuery, SearchVector, SearchVectorExact
from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL

from chat.models import Feedback

CONFIG = "english"
TURN_DOCUMENT = ("question", "answer")
FTS_TABLE = "workspace_search"
FTS_ROWS = "workspace_search_row"

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


def turn_document() -> SearchVector:
    """The indexed expression over a turn (migration 0002 builds its GIN index from this)."""
    return SearchVector(*TURN_DOCUMENT, config=CONFIG)


def comment_document() -> SearchVector:
    return SearchVector("comment", config=CONFIG)


def search_q(text: str) -> Q | None:
    """A filter on Turn for the query text; None when the text has no searchable word."""
    branches = search_branches(text)
    if branches is None:
        return None
    combined = Q()
    for branch in branches:
        combined |= branch
    return combined


def search_branches(text: str) -> list[Q] | None:
    """The same filter as disjoint parts whose union is the match, each of which the
    database can answer from one index (the explorer pages through each and merges):
    PostgreSQL — the turn's own text as a condition on the turn itself (so the planner may
    walk the turns in page order and test each, or start from the GIN index, whichever is
    cheaper for this word), then turns matched only by a feedback comment; SQLite — one
    FTS5 lookup that covers all three."""
    if not any(w.lower() not in STOP_WORDS for w in _WORD.findall(text or "")):
        return None
    if connection.vendor == "postgresql":
        return _postgres_branches(text)
    return [_sqlite_q(text)]


def _postgres_branches(text: str) -> list[Q]:
    query = SearchQuery(text, search_type="websearch", config=CONFIG)
    in_text = Q(SearchVectorExact(turn_document(), query))
    in_comment = (
        Feedback.objects.exclude(comment="")
        .alias(document=comment_document())
        .filter(document=query)
        .order_by()
        .values("turn_id")
    )
    return [in_text, Q(id__in=in_comment) & ~in_text]


def fts5_expression(text: str) -> tuple[str, str]:
    """(what must match, what must not) in FTS5 syntax, with websearch_to_tsquery's meaning;
    every word is quoted, so nothing a user types is read as FTS5 syntax."""
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
    positive = " OR ".join(f"({' AND '.join(c)})" for c in clauses if c)
    return positive, " OR ".join(negated)


def _sqlite_q(text: str) -> Q:
    positive, negative = fts5_expression(text)
    if positive and negative:
        return Q(id__in=RawSQL(_FTS_SQL, [f"({positive}) NOT ({negative})"]))
    if positive:
        return Q(id__in=RawSQL(_FTS_SQL, [positive]))
    return ~Q(id__in=RawSQL(_FTS_SQL, [negative]))  # only exclusions


_FTS_SQL = (
    f"SELECT r.turn_id FROM {FTS_TABLE} JOIN {FTS_ROWS} r ON r.id = {FTS_TABLE}.rowid"
    f" WHERE {FTS_TABLE} MATCH %s"
)
