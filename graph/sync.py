"""SQL → graph sync: the outbox drain, per-entity batched writers, check and rebuild.

The relational database is the system of record. Every writer here loads the *current*
SQL state of the ids it is given, in bulk, and writes it with parameterised
`UNWIND $rows AS row MERGE … SET …` statements keyed on stable ids, so running it twice
changes nothing. An id that no longer exists in SQL is removed from the graph
(DETACH DELETE). Writers for review/release skip silently when their app's model is
not installed.

`drain()` claims pending outbox rows with a compare-and-set (rows whose entity is being
worked on by another drain are left alone), writes them, and marks them synced only
after the graph accepted the writes; on failure the rows get `attempts + 1` and
`last_error`, the claim is released and the error propagates so Celery retries with
capped backoff. Rows stay in the outbox until the graph has them.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import queue
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import CharField, F, Func, Q, UUIDField
from django.utils import timezone
from neomodel import db

from graph.models import OutboxEntry

log = logging.getLogger(__name__)

WRITE_BATCH = 2000
CLAIM_LEASE = timedelta(minutes=10)
# Dependency order: nodes that others point at are written first.
ORDER = [
    "user",
    "topic",
    "document",
    "conversation",
    "turn",
    "feedback",
    "review",
    "example",
    "release",
]


# --- helpers ---------------------------------------------------------------------------


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write(query: str, rows: list, **params) -> None:
    """Run one parameterised UNWIND statement over `rows`, WRITE_BATCH rows at a time."""
    for part in _chunks(rows, WRITE_BATCH):
        db.cypher_query(query, {"rows": part, **params})


class Pipeline:
    """Graph writes run in order, each as `write()` (or the function given to `call()`)
    runs it, on one background thread, while the caller goes on reading SQL and building
    the next rows.

    The graph server works in its own process, so the two overlap; for a batch of fresh
    turns that hides most of the SQL and Python time behind the graph's. The first
    failed write stops the rest and is raised by the next `write()`, `flush()` or the
    end of the `with` block, so a failure still leaves the outbox rows pending.
    Reads of the graph the caller makes meanwhile see the writes queued before them only
    after `flush()`."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        # neomodel keeps the database name in context variables: run in a copy.
        self._thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(self._work,),
            daemon=True,
            name="graph-pipeline",
        )
        self._thread.start()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    item[0](*item[1], **item[2])
                except BaseException as exc:  # raised in the caller's thread
                    self._error = exc
            self._queue.task_done()
        self._queue.task_done()

    def _raise(self) -> None:
        if self._error is not None:  # stays set: the writes queued after it are skipped
            raise self._error

    def write(self, query: str, rows: list, **params) -> None:
        if rows:
            self.call(write, query, rows, **params)

    def call(self, fn: Callable, *args, **kwargs) -> None:
        self._raise()
        self._queue.put((fn, args, kwargs))

    def flush(self) -> None:
        """Wait until every queued write is done; raise the first that failed."""
        self._queue.join()
        self._raise()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._queue.put(None)
        self._thread.join()
        if exc_type is None:
            self._raise()


class UuidText(Func):
    """A UUID column as the text `str(uuid)` gives, computed by the database.

    Turning tens of thousands of column values into `uuid.UUID` and back into strings was
    a third of the Python time of a turn sync. PostgreSQL has a uuid type; elsewhere
    Django stores the 32 hex digits, and the dashes are put in here."""

    output_field = CharField()

    def __init__(self, column: str) -> None:
        super().__init__(F(column))

    def as_sql(self, compiler, connection, **extra):
        if connection.features.has_native_uuid_field:
            return super().as_sql(compiler, connection, template="CAST(%(expressions)s AS text)")
        sql, params = compiler.compile(self.source_expressions[0])
        parts = " || '-' || ".join(
            f"substr({sql}, {start}, {length})"
            for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
        )
        return parts, params * 5


def _rows(qs, *fields: str) -> list[dict]:
    """`qs.values(*fields)`, with UUID columns (ids and foreign keys) as strings."""
    model = qs.model
    exprs = []
    for name in fields:
        field = model._meta.get_field(name.split("__")[0])
        target = field.target_field if field.is_relation else field
        if "__" not in name and isinstance(target, UUIDField):
            exprs.append(UuidText(field.attname))
        else:
            exprs.append(name)
    return [dict(zip(fields, row, strict=True)) for row in qs.values_list(*exprs)]


def _strs(ids: Iterable[object]) -> list[str]:
    return sorted({str(i) for i in ids})


def _upsert(label: str, dates: Iterable[str] = ()) -> str:
    """MERGE on uid, set the row's properties `p`, and each of `dates` from the row's ISO
    string (see `_iso`)."""
    return f"UNWIND $rows AS row MERGE (n:{label} {{uid: row.uid}}) SET n += row.p" + "".join(
        f", n.{d} = datetime(row.{d})" for d in dates
    )


def _iso(value) -> str | None:
    """Datetimes travel as ISO strings and are stored with Cypher's `datetime()`.

    The driver's own encoding of a Python datetime costs ~25 µs a value in Python, which
    was a third of the time of writing a batch of turns; `datetime()` on the server costs
    nothing measurable. The stored value is the same instant, a zoned DateTime, on Neo4j
    and on the embedded server alike, and `datetime(null)` is null."""
    return value.isoformat() if value is not None else None


def _delete(label: str, ids: Iterable[str]) -> None:
    write(f"UNWIND $rows AS id MATCH (n:{label} {{uid: id}}) DETACH DELETE n", list(ids))


def _missing(requested: list[str], found: Iterable[str]) -> list[str]:
    return sorted(set(requested) - set(found))


def _model(label: str):
    """An optional model (review/release apps may be absent); None when not installed."""
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def _placeholder_answer(var: str, key: str) -> str:
    # A message another node points at but whose turn has not been written yet:
    # created with just enough to be found; the turn's own sync fills it in.
    return (
        f"MERGE ({var}:Message {{uid: {key}}}) "
        f"ON CREATE SET {var}.role = 'assistant', {var}.turn_uid = {key}"
    )


def external_ids(source: str, text: str) -> tuple[str, str]:
    """(document uid, chunk uid) for a context passage that has no knowledge-base chunk
    (sent through the ingestion API): a Document per source, a Chunk per source + text."""
    doc = "ext-" + hashlib.sha256(source.encode()).hexdigest()[:32]
    chunk = "ext-" + hashlib.sha256(f"{source}\n{text}".encode()).hexdigest()[:32]
    return doc, chunk


# --- users, topics, documents, conversations -----------------------------------------


def sync_users(ids: Iterable[object], *, deps: bool = True) -> None:
    ids = _strs(ids)
    pks = [int(i) for i in ids if i.isdigit()]
    # Only people who chatted belong in the graph (accounts alone say nothing about usage).
    found = list(
        get_user_model()
        .objects.filter(pk__in=pks, conversations__isnull=False)
        .distinct()
        .values("pk", "username")
    )
    write(_upsert("User"), [{"uid": str(u["pk"]), "p": {"username": u["username"]}} for u in found])
    _delete("User", _missing(ids, (str(u["pk"]) for u in found)))


def sync_topics(ids: Iterable[object], *, deps: bool = True) -> None:
    from chat.models import Topic

    ids = _strs(ids)
    found = list(Topic.objects.filter(pk__in=_uuids(ids)).values("id", "name", "keywords"))
    write(
        _upsert("Topic"),
        [
            {"uid": str(t["id"]), "p": {"name": t["name"], "keywords": json.dumps(t["keywords"])}}
            for t in found
        ],
    )
    _delete("Topic", _missing(ids, (str(t["id"]) for t in found)))


def sync_documents(ids: Iterable[object], *, deps: bool = True) -> None:
    from knowledge.models import Chunk, Document

    ids = _strs(ids)
    docs = list(
        Document.objects.filter(pk__in=_uuids(ids)).values(
            "id", "title", "source", "checksum", "created_at"
        )
    )
    write(
        _upsert("Document", ["created_at"]),
        [
            {
                "uid": str(d["id"]),
                "created_at": _iso(d["created_at"]),
                "p": {
                    "title": d["title"],
                    "source": d["source"],
                    "checksum": d["checksum"],
                    "external": False,
                },
            }
            for d in docs
        ],
    )
    chunks = list(
        Chunk.objects.filter(document_id__in=[d["id"] for d in docs]).values(
            "id", "document_id", "index", "text"
        )
    )
    _write_chunks(
        [
            {
                "uid": str(c["id"]),
                "doc": str(c["document_id"]),
                "p": {
                    "document_uid": str(c["document_id"]),
                    "index": c["index"],
                    "text": c["text"][:2000],
                    "external": False,
                },
            }
            for c in chunks
        ]
    )
    keep: dict[str, list[str]] = {str(d["id"]): [] for d in docs}
    for c in chunks:
        keep[str(c["document_id"])].append(str(c["id"]))
    gone = _missing(ids, keep)
    # Answers that used a chunk that is going away: SQL set their context's chunk to NULL,
    # so after the delete they are re-synced with the passage as an external chunk.
    stale = [{"doc": d, "keep": k} for d, k in keep.items()] + [
        {"doc": d, "keep": []} for d in gone
    ]
    rows, _ = db.cypher_query(
        "UNWIND $rows AS row MATCH (:Document {uid: row.doc})-[:HAS_CHUNK]->(c:Chunk) "
        "WHERE NOT c.uid IN row.keep MATCH (a:Message)-[:HAS_CONTEXT]->(c) "
        "RETURN DISTINCT a.uid",
        {"rows": stale},
    )
    write(
        "UNWIND $rows AS row MATCH (:Document {uid: row.doc})-[:HAS_CHUNK]->(c:Chunk) "
        "WHERE NOT c.uid IN row.keep DETACH DELETE c",
        stale,
    )
    _delete("Document", gone)
    if rows:
        sync_turns([r[0] for r in rows], deps=False)


def _write_chunks(rows: list[dict], write: Callable = write) -> None:
    write(
        "UNWIND $rows AS row MERGE (c:Chunk {uid: row.uid}) SET c += row.p "
        "WITH c, row MATCH (d:Document {uid: row.doc}) MERGE (d)-[:HAS_CHUNK]->(c)",
        rows,
    )


def sync_conversations(ids: Iterable[object], *, deps: bool = True) -> None:
    from chat.models import Conversation

    ids = _strs(ids)
    found = list(
        Conversation.objects.filter(pk__in=_uuids(ids)).values(
            "id", "user_id", "title", "source", "created_at"
        )
    )
    if deps:
        sync_users({c["user_id"] for c in found})
    write(
        _upsert("Conversation", ["created_at"]) + " WITH n, row MERGE (u:User {uid: row.user}) "
        "MERGE (u)-[:STARTED]->(n)",
        [
            {
                "uid": str(c["id"]),
                "user": str(c["user_id"]),
                "created_at": _iso(c["created_at"]),
                "p": {"title": c["title"], "source": c["source"]},
            }
            for c in found
        ],
    )
    gone = _missing(ids, (str(c["id"]) for c in found))
    if gone:  # rare: a scan over messages rather than an index every write pays for
        rows, _ = db.cypher_query(
            "MATCH (m:Message) WHERE m.conversation_uid IN $ids RETURN m.uid", {"ids": gone}
        )
        _delete_messages([r[0] for r in rows])
    _delete("Conversation", gone)


def _delete_messages(uids: list[str]) -> None:
    """Delete messages of deleted turns/conversations, with what SQL deleted along
    (feedback and reviews cascade there) and external passages nothing uses any more."""
    ids = sorted(set(uids))
    if not ids:
        return
    match = "UNWIND $rows AS id MATCH (m:Message {uid: id})"
    rows, _ = db.cypher_query(
        match + "-[:HAS_CONTEXT]->(c:Chunk {external: true}) RETURN DISTINCT c.uid", {"rows": ids}
    )
    write(match + "<-[:REVIEWS]-(:Review)-[:CORRECTS_WITH]->(c:Correction) DETACH DELETE c", ids)
    write(match + "<-[:REVIEWS|RATES]-(x) DETACH DELETE x", ids)
    write(match + " DETACH DELETE m", ids)
    write(
        "UNWIND $rows AS id MATCH (c:Chunk {uid: id}) "
        "WHERE NOT EXISTS { MATCH (c)<-[:HAS_CONTEXT]-() } "
        "OPTIONAL MATCH (d:Document)-[:HAS_CHUNK]->(c) DETACH DELETE c "
        "WITH DISTINCT d WHERE d IS NOT NULL AND NOT EXISTS { MATCH (d)-[:HAS_CHUNK]->() } "
        "DETACH DELETE d",
        [r[0] for r in rows],
    )


# --- turns: two messages, their links, contexts, topic and replay ------------------------

TURN_STEP = 500  # turns per step of `sync_turns` (500 to 2000 measured; 500 overlaps best)


def sync_turns(ids: Iterable[object], *, deps: bool = True) -> None:
    """Write turns (two messages each, their links, contexts, topic and replay).

    Works in steps of TURN_STEP turns through a `Pipeline`: while the graph server writes
    one step, this thread reads the next from SQL and builds its rows. Chains (FIRST,
    NEXT between turns) and replays join messages of any step, so they go last."""
    ids = _strs(ids)
    _require_schema()
    convs: set[str] = set()
    fresh: set[str] = set()
    replays: list[dict] = []
    with Pipeline() as pipe:
        # A short first step: the graph has nothing to do until it arrives.
        first = TURN_STEP // 5
        for step in [ids[:first], *_chunks(ids[first:], TURN_STEP)]:
            _sync_turn_step(step, deps, pipe, convs, fresh, replays)
        ordered = _conversation_turns(convs)  # read while the last step is written
        pipe.flush()  # `fresh` is complete once every step is written
        pipe.write(
            "UNWIND $rows AS row MATCH (a:Message {uid: row.a}) "
            + _placeholder_answer("o", "row.o")
            + " MERGE (a)-[:REPLAY_OF]->(o)",
            replays,
        )
        _write_chains(ordered, fresh, pipe.write)


def _sync_turn_step(
    ids: list[str],
    deps: bool,
    pipe: Pipeline,
    convs: set[str],
    fresh_ids: set[str],
    replays: list[dict],
) -> None:
    from chat.models import Turn, TurnContext

    turns = _rows(
        Turn.objects.filter(pk__in=_uuids(ids)),
        "id",
        "question_uid",
        "conversation_id",
        "topic_id",
        "replay_of_id",
        "position",
        "question",
        "answer",
        "status",
        "grounded",
        "model",
        "provider",
        "max_context_score",
        "created_at",
        "completed_at",
    )
    gone = _missing(ids, (t["id"] for t in turns))
    step_convs = {t["conversation_id"] for t in turns}
    contexts = _rows(
        TurnContext.objects.filter(turn_id__in=_uuids(t["id"] for t in turns)),
        "turn_id",
        "chunk_id",
        *(["chunk__document_id"] if deps else []),
        "rank",
        "score",
        "text",
        "source",
        "title",
    )
    if gone or deps:
        # Synchronous graph work follows; it must not run beside the pipeline's writes
        # (the embedded server refuses concurrent changes to one node).
        pipe.flush()
    if gone:  # the conversation of a deleted turn is only known to the graph now
        rows, _ = db.cypher_query(
            "UNWIND $rows AS id MATCH (a:Message {uid: id}) "
            "OPTIONAL MATCH (q:Message {role: 'user'})-[:NEXT]->(a) "
            "RETURN a.conversation_uid, a.uid, q.uid",
            {"rows": gone},
        )
        step_convs |= {r[0] for r in rows if r[0]}
        _delete_messages([uid for r in rows for uid in r[1:] if uid])
    if deps:  # what the turns point at must exist; its changes come in its own outbox rows
        _ensure("conversation", "Conversation", step_convs)
        _ensure("topic", "Topic", {t["topic_id"] for t in turns if t["topic_id"]})
        chunks = {c["chunk_id"]: c["chunk__document_id"] for c in contexts if c["chunk_id"]}
        missing = set(chunks) - _existing("Chunk", sorted(chunks))
        if missing:
            sync_documents({chunks[c] for c in missing})
    convs |= step_convs
    links = _context_links(contexts, pipe.write)
    pipe.call(
        _write_turns, [{**_turn_row(t), "ctx": links.get(t["id"], [])} for t in turns], fresh_ids
    )
    replays += [{"a": t["id"], "o": t["replay_of_id"]} for t in turns if t["replay_of_id"]]


def _write_turns(rows: list[dict], fresh_ids: set[str]) -> None:
    """CREATE the turns' messages, NEXT and contexts in one statement: the usual case is
    a turn the graph has never seen. If any message is already there (a retry after a
    failure, an edit, a placeholder answer made by its feedback), the uniqueness
    constraint refuses the whole statement; then the turns are split into new ones
    (CREATE) and known ones (MERGE, stale edges removed). Adds the new turns' ids to
    `fresh_ids` (their messages have no chain edges yet)."""
    from neomodel.exceptions import ConstraintValidationFailed

    try:
        write(CREATE_TURN, rows)
        known = []
    except ConstraintValidationFailed:
        existing = _existing("Message", [r["a"] for r in rows] + [r["q"] for r in rows])
        known = [r for r in rows if r["a"] in existing or r["q"] in existing]
        rows = [r for r in rows if r["a"] not in existing and r["q"] not in existing]
        write(CREATE_TURN, rows)
    fresh_ids |= {r["a"] for r in rows}
    # (ABOUT stays a statement of its own: creating it inside CREATE_TURN with FOREACH made
    # the embedded server report conflicts on topics many rows of one batch point at.)
    write(
        "UNWIND $rows AS row MATCH (m:Message {uid: row.m}) MATCH (t:Topic {uid: row.t}) "
        "CREATE (m)-[:ABOUT]->(t)",
        [{"m": r["q"], "t": r["t"]} for r in rows if r["t"]],
    )
    write(
        "UNWIND $rows AS row "
        "MERGE (q:Message {uid: row.q}) SET q += row.qp, q.created_at = datetime(row.qat) "
        "MERGE (a:Message {uid: row.a}) SET a += row.ap, a.created_at = datetime(row.aat) "
        "MERGE (q)-[:NEXT]->(a)",
        known,
    )
    _merge_contexts({r["a"]: r["ctx"] for r in known}, [r["a"] for r in known])
    _replace_single("ABOUT", "Topic", [{"m": r["q"], "t": r["t"]} for r in known])
    write(
        "UNWIND $rows AS row MATCH (a:Message {uid: row.a})-[r:REPLAY_OF]->(o) "
        "WHERE row.o IS NULL OR o.uid <> row.o DELETE r",
        [{"a": r["a"], "o": r["o"]} for r in known],
    )


_schema_ready: set[str] = set()


def _require_schema() -> None:
    """The CREATE path relies on the uniqueness constraints to refuse a duplicate:
    install them (idempotent) once per process and graph."""
    import neomodel

    from graph.schema import install_schema

    url = neomodel.get_config().database_url
    if url not in _schema_ready:
        install_schema()
        _schema_ready.add(url)


CREATE_TURN = (
    "UNWIND $rows AS row "
    "CREATE (q:Message {uid: row.q, role: 'user', turn_uid: row.qp.turn_uid, "
    "conversation_uid: row.qp.conversation_uid, position: row.qp.position, "
    "text: row.qp.text, created_at: datetime(row.qat)}) "
    "CREATE (a:Message {uid: row.a, role: 'assistant', turn_uid: row.ap.turn_uid, "
    "conversation_uid: row.ap.conversation_uid, position: row.ap.position, "
    "text: row.ap.text, status: row.ap.status, grounded: row.ap.grounded, "
    "model: row.ap.model, provider: row.ap.provider, "
    "max_context_score: row.ap.max_context_score, created_at: datetime(row.aat)}) "
    "CREATE (q)-[:NEXT]->(a) "
    "WITH a, row UNWIND row.ctx AS ctx MATCH (c:Chunk {uid: ctx.c}) "
    "CREATE (a)-[:HAS_CONTEXT {rank: ctx.rank, score: ctx.score}]->(c)"
)


def _ensure(entity: str, label: str, ids: set[str]) -> None:
    """Sync those of `ids` the graph does not have yet.

    A turn's dependencies are synced as dependencies only when missing: every change to a
    conversation, topic or document records its own outbox row, and re-writing each
    document with all its chunks for every batch of turns was most of a drain's time."""
    missing = set(ids) - _existing(label, sorted(ids))
    if missing:
        sync(entity, missing)


def _existing(label: str, uids: list[str]) -> set[str]:
    found: set[str] = set()
    for part in _chunks(uids, WRITE_BATCH * 2):
        rows, _ = db.cypher_query(
            f"UNWIND $rows AS id MATCH (n:{label} {{uid: id}}) RETURN id", {"rows": part}
        )
        found |= {r[0] for r in rows}
    return found


def _turn_row(t: dict) -> dict:
    common = {
        "turn_uid": t["id"],
        "conversation_uid": t["conversation_id"],
        "position": t["position"],
    }
    return {
        "q": t["question_uid"],
        "a": t["id"],
        "t": t["topic_id"],
        "o": t["replay_of_id"],
        "qat": _iso(t["created_at"]),
        "aat": _iso(t["completed_at"] or t["created_at"]),
        "qp": {**common, "role": "user", "text": t["question"]},
        "ap": {
            **common,
            "role": "assistant",
            "text": t["answer"],
            "status": t["status"],
            "grounded": t["grounded"],
            "model": t["model"],
            "provider": t["provider"],
            "max_context_score": t["max_context_score"],
        },
    }


def _context_links(contexts: list[dict], write: Callable = write) -> dict[str, list[dict]]:
    """HAS_CONTEXT rows per answer; writes the external passages' Chunk/Document first."""
    external: dict[str, dict] = {}
    links: dict[str, list[dict]] = defaultdict(list)
    for c in contexts:
        if c["chunk_id"]:
            chunk = c["chunk_id"]
        else:
            doc, chunk = external_ids(c["source"], c["text"])
            external[chunk] = {
                "uid": chunk,
                "doc": doc,
                "title": c["title"] or c["source"],
                "source": c["source"],
                "text": c["text"][:2000],
            }
        links[c["turn_id"]].append({"c": chunk, "rank": c["rank"], "score": c["score"]})
    write(
        "UNWIND $rows AS row MERGE (d:Document {uid: row.doc}) "
        "ON CREATE SET d.title = row.title, d.source = row.source, d.external = true",
        list(external.values()),
    )
    _write_chunks(
        [
            {
                "uid": e["uid"],
                "doc": e["doc"],
                "p": {"document_uid": e["doc"], "text": e["text"], "external": True},
            }
            for e in external.values()
        ],
        write,
    )
    return links


def _merge_contexts(
    links: dict[str, list[dict]], turn_ids: list[str], write: Callable = write
) -> None:
    """Make each answer's HAS_CONTEXT edges exactly `links` (drop stale, merge current)."""
    write(
        "UNWIND $rows AS row MATCH (a:Message {uid: row.a})-[r:HAS_CONTEXT]->(c) "
        "WHERE NOT (c.uid + '#' + toString(r.rank)) IN row.keep DELETE r",
        [{"a": t, "keep": [f"{x['c']}#{x['rank']}" for x in links.get(t, [])]} for t in turn_ids],
    )
    write(
        "UNWIND $rows AS row MATCH (a:Message {uid: row.a}) MATCH (c:Chunk {uid: row.c}) "
        "MERGE (a)-[r:HAS_CONTEXT {rank: row.rank}]->(c) SET r.score = row.score",
        [{"a": t, **x} for t in turn_ids for x in links.get(t, [])],
    )


def _replace_single(rel: str, label: str, rows: list[dict], write: Callable = write) -> None:
    """Make `(m)-[rel]->(:label {uid: t})` the only `rel` from each row's message."""
    write(
        f"UNWIND $rows AS row MATCH (m:Message {{uid: row.m}})-[r:{rel}]->(t) "
        "WHERE row.t IS NULL OR t.uid <> row.t DELETE r",
        rows,
    )
    write(
        f"UNWIND $rows AS row MATCH (m:Message {{uid: row.m}}) "
        f"MATCH (t:{label} {{uid: row.t}}) MERGE (m)-[:{rel}]->(t)",
        [r for r in rows if r["t"]],
    )


def _conversation_turns(conv_ids: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """(turn id, question uid) of every turn of the conversations, in order."""
    from chat.models import Turn

    ordered: dict[str, list[tuple[str, str]]] = {c: [] for c in sorted(set(conv_ids))}
    for conv, tid, quid in (
        Turn.objects.filter(conversation_id__in=_uuids(ordered))
        .order_by("conversation_id", "position", "created_at", "id")
        .values_list(*map(UuidText, ("conversation_id", "id", "question_uid")))
    ):
        ordered[conv].append((tid, quid))
    return ordered


def _write_chains(
    ordered: dict[str, list[tuple[str, str]]],
    fresh: set[str] = frozenset(),
    write: Callable = write,
) -> None:
    """FIRST from each conversation to its first question, NEXT from each answer to the
    following question, recomputed for whole conversations (turns may have come or gone).
    `ordered`: from `_conversation_turns`; `fresh`: turns whose messages were just
    created, so have no edges yet."""
    if not ordered:
        return
    firsts = [{"c": c, "first": turns[0][1] if turns else None} for c, turns in ordered.items()]
    write(
        "UNWIND $rows AS row MATCH (c:Conversation {uid: row.c})-[r:FIRST]->(m) "
        "WHERE row.first IS NULL OR m.uid <> row.first DELETE r",
        firsts,
    )
    # A question just created has no FIRST edge yet: CREATE it (cheaper than MERGE).
    new_first = {turns[0][1] for turns in ordered.values() if turns and turns[0][0] in fresh}
    link = (
        "UNWIND $rows AS row MATCH (c:Conversation {uid: row.c}) "
        "MATCH (m:Message {uid: row.first}) "
    )
    write(link + "CREATE (c)-[:FIRST]->(m)", [f for f in firsts if f["first"] in new_first])
    write(
        link + "MERGE (c)-[:FIRST]->(m)",
        [f for f in firsts if f["first"] and f["first"] not in new_first],
    )
    nexts = [
        {"a": turns[i][0], "n": turns[i + 1][1] if i + 1 < len(turns) else None}
        for turns in ordered.values()
        for i in range(len(turns))
    ]
    write(
        "UNWIND $rows AS row MATCH (a:Message {uid: row.a})-[r:NEXT]->(x) "
        "WHERE row.n IS NULL OR x.uid <> row.n DELETE r",
        [n for n in nexts if n["a"] not in fresh],
    )
    link = "UNWIND $rows AS row MATCH (a:Message {uid: row.a}) MATCH (q:Message {uid: row.n}) "
    write(link + "CREATE (a)-[:NEXT]->(q)", [n for n in nexts if n["n"] and n["a"] in fresh])
    write(link + "MERGE (a)-[:NEXT]->(q)", [n for n in nexts if n["n"] and n["a"] not in fresh])


# --- feedback, reviews, examples, releases ------------------------------------------------


def sync_feedback(ids: Iterable[object], *, deps: bool = True) -> None:
    from chat.models import Feedback

    ids = _strs(ids)
    found = list(
        Feedback.objects.filter(pk__in=_uuids(ids)).values(
            "id", "turn_id", "rating", "comment", "created_at", "updated_at"
        )
    )
    write(
        _upsert("Feedback", ["created_at", "updated_at"])
        + " WITH n, row "
        + _placeholder_answer("a", "row.turn")
        + " MERGE (n)-[:RATES]->(a)",
        [
            {
                "uid": str(f["id"]),
                "turn": str(f["turn_id"]),
                "created_at": _iso(f["created_at"]),
                "updated_at": _iso(f["updated_at"]),
                "p": {"rating": f["rating"], "comment": f["comment"]},
            }
            for f in found
        ],
    )
    _delete("Feedback", _missing(ids, (str(f["id"]) for f in found)))


def sync_reviews(ids: Iterable[object], *, deps: bool = True) -> None:
    """(:Review)-[:REVIEWS]->(answer); a review with a corrected answer also gets
    (:Review)-[:CORRECTS_WITH]->(:Correction {uid: review uid})."""
    Review = _model("annotations.Review")
    if Review is None:
        return
    ids = _strs(ids)
    found = list(
        Review.objects.filter(pk__in=_uuids(ids)).values(
            "id",
            "item__turn_id",
            "reviewer__username",
            "verdict",
            "scores",
            "notes",
            "corrected_answer",
            "created_at",
        )
    )
    write(
        _upsert("Review", ["created_at"])
        + " WITH n, row "
        + _placeholder_answer("a", "row.turn")
        + " MERGE (n)-[:REVIEWS]->(a)",
        [
            {
                "uid": str(r["id"]),
                "turn": str(r["item__turn_id"]),
                "created_at": _iso(r["created_at"]),
                "p": {
                    "verdict": r["verdict"],
                    "scores": json.dumps(r["scores"]),
                    "reviewer": r["reviewer__username"],
                    "notes": r["notes"],
                },
            }
            for r in found
        ],
    )
    corrected = [r for r in found if r["corrected_answer"].strip()]
    write(
        "UNWIND $rows AS row MATCH (rv:Review {uid: row.uid}) "
        "MERGE (c:Correction {uid: row.uid}) "
        "SET c.text = row.text, c.created_at = datetime(row.at) "
        "MERGE (rv)-[:CORRECTS_WITH]->(c)",
        [
            {"uid": str(r["id"]), "text": r["corrected_answer"], "at": _iso(r["created_at"])}
            for r in corrected
        ],
    )
    _delete("Correction", _missing(ids, (str(r["id"]) for r in corrected)))
    _delete("Review", _missing(ids, (str(r["id"]) for r in found)))


def sync_examples(ids: Iterable[object], *, deps: bool = True) -> None:
    from annotations.models import Example

    ids = _strs(ids)
    found = list(
        Example.objects.filter(pk__in=_uuids(ids)).values(
            "id", "turn_id", "status", "corrected", "grounded", "model", "approved_at"
        )
    )
    write(
        _upsert("Example", ["approved_at"])
        + " WITH n, row "
        + _placeholder_answer("a", "row.turn")
        + " MERGE (n)-[:FROM]->(a)",
        [
            {
                "uid": str(e["id"]),
                "turn": str(e["turn_id"]),
                "approved_at": _iso(e["approved_at"]),
                "p": {
                    "status": e["status"],
                    "corrected": e["corrected"],
                    "grounded": e["grounded"],
                    "model": e["model"],
                },
            }
            for e in found
        ],
    )
    _delete("Example", _missing(ids, (str(e["id"]) for e in found)))


def sync_releases(ids: Iterable[object], *, deps: bool = True) -> None:
    Release, Item = _model("datasets.Release"), _model("datasets.ReleaseItem")
    if Release is None or Item is None:
        return
    ids = _strs(ids)
    found = list(
        Release.objects.filter(pk__in=_uuids(ids)).values(
            "id", "name", "version", "state", "created_at"
        )
    )
    write(
        _upsert("Release", ["created_at"]),
        [
            {
                "uid": str(r["id"]),
                "created_at": _iso(r["created_at"]),
                "p": {"name": r["name"], "version": r["version"], "status": r["state"]},
            }
            for r in found
        ],
    )
    members: dict[str, list[str]] = {str(r["id"]): [] for r in found}
    for rel, ex in Item.objects.filter(release_id__in=list(members)).values_list(
        "release_id", "example_id"
    ):
        members[str(rel)].append(str(ex))
    if deps:
        sync_examples({e for m in members.values() for e in m})
    write(
        "UNWIND $rows AS row MATCH (r:Release {uid: row.r})-[i:INCLUDES]->(e) "
        "WHERE NOT e.uid IN row.keep DELETE i",
        [{"r": r, "keep": m} for r, m in members.items()],
    )
    write(
        "UNWIND $rows AS row MATCH (r:Release {uid: row.r}) "
        "MATCH (e:Example {uid: row.e}) MERGE (r)-[:INCLUDES]->(e)",
        [{"r": r, "e": e} for r, m in members.items() for e in m],
    )
    _delete("Release", _missing(ids, (str(r["id"]) for r in found)))


SYNCERS: dict[str, Callable[..., None]] = {
    "user": sync_users,
    "topic": sync_topics,
    "document": sync_documents,
    "conversation": sync_conversations,
    "turn": sync_turns,
    "feedback": sync_feedback,
    "review": sync_reviews,
    "example": sync_examples,
    "release": sync_releases,
}


def sync(entity: str, ids: Iterable[object], *, deps: bool = True) -> None:
    SYNCERS[entity](ids, deps=deps)


# --- the outbox drain -------------------------------------------------------------------


def claim(batch_size: int) -> tuple[str, list[tuple[str, str]]]:
    """Claim up to `batch_size` pending rows (compare-and-set on claim/claimed_until).

    Rows whose entity another drain is working on right now are skipped, so two workers
    never write the same entity concurrently (the later change would otherwise race the
    earlier one)."""
    now, token = timezone.now(), uuid.uuid4().hex
    claimable = Q(synced_at=None) & (Q(claimed_until=None) | Q(claimed_until__lt=now))
    with transaction.atomic():
        busy = set(
            OutboxEntry.objects.filter(synced_at=None, claimed_until__gte=now).values_list(
                "entity", "entity_id"
            )
        )
        # Rows that already failed go last, so one poisoned row cannot hold up fresh ones
        # (order does not matter otherwise: every write reads the current SQL state).
        candidates = (
            OutboxEntry.objects.filter(claimable)
            .order_by("attempts", "id")
            .values_list("id", "entity", "entity_id")[: batch_size + len(busy)]
        )
        pks = [pk for pk, entity, eid in candidates if (entity, eid) not in busy][:batch_size]
        if pks:
            OutboxEntry.objects.filter(claimable, id__in=pks).update(
                claim=token, claimed_until=now + CLAIM_LEASE
            )
    rows = list(
        OutboxEntry.objects.filter(claim=token, synced_at=None).values_list("entity", "entity_id")
    )
    return token, rows


def process(rows: Iterable[tuple[str, str]]) -> None:
    grouped: dict[str, set[str]] = defaultdict(set)
    for entity, entity_id in rows:
        grouped[entity].add(entity_id)
    for entity in ORDER:
        if grouped.get(entity):
            sync(entity, grouped[entity])


def drain(batch_size: int = 500, time_budget: float | None = None) -> int:
    """Sync pending outbox rows to the graph; returns how many rows were synced."""
    deadline = time.monotonic() + time_budget if time_budget else None
    synced = 0
    while True:
        token, rows = claim(batch_size)
        if not rows:
            return synced
        claimed = OutboxEntry.objects.filter(claim=token, synced_at=None)
        try:
            process(rows)
        except Exception as exc:
            claimed.update(
                attempts=F("attempts") + 1,
                last_error=repr(exc)[:2000],
                claim="",
                claimed_until=None,
            )
            raise
        synced += claimed.update(synced_at=timezone.now(), claim="", claimed_until=None)
        if deadline and time.monotonic() > deadline:
            return synced


def pending_count() -> int:
    return OutboxEntry.objects.filter(synced_at=None).count()


def prune(older_than: timedelta = timedelta(days=7)) -> int:
    cutoff = timezone.now() - older_than
    return OutboxEntry.objects.filter(synced_at__lt=cutoff).delete()[0]


# --- check, reconcile, rebuild -------------------------------------------------------------


@dataclass
class LabelDiff:
    sql: int
    graph: int
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)


@dataclass
class Report:
    labels: dict[str, LabelDiff]
    rels: dict[str, tuple[int, int]]  # type -> (sql, graph)
    # type -> uids of the nodes whose edges of that type differ from SQL (see LINKS)
    links: dict[str, list[str]] = field(default_factory=dict)
    sql_ids: dict[str, set[str]] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return (
            all(not d.missing and not d.extra for d in self.labels.values())
            and all(s == g for s, g in self.rels.values())
            and not any(self.links.values())
        )

    def differences(self) -> list[str]:
        lines = []
        for label, d in self.labels.items():
            if d.missing or d.extra:
                lines.append(
                    f"{label}: sql {d.sql}, graph {d.graph}; missing {len(d.missing)} "
                    f"{d.missing[:5]}, extra {len(d.extra)} {d.extra[:5]}"
                )
        for rel, (s, g) in self.rels.items():
            if s != g:
                lines.append(f"{rel}: sql {s}, graph {g}")
        for rel, uids in self.links.items():
            if uids:
                lines.append(f"{rel}: edges of {len(uids)} node(s) differ from SQL {uids[:5]}")
        return lines


def _external_contexts() -> list[tuple[str, int, str, str]]:
    """(turn id, rank, document uid, chunk uid) of every context passage without a
    knowledge-base chunk (see `external_ids`)."""
    from chat.models import TurnContext

    return [
        (t, rank, *external_ids(source, text))
        for t, rank, source, text in TurnContext.objects.filter(chunk=None).values_list(
            UuidText("turn_id"), "rank", "source", "text"
        )
    ]


def expected(external: list[tuple] | None = None) -> tuple[dict[str, set[str]], dict[str, int]]:
    """What the graph should hold, computed from SQL: node ids per label and
    relationship counts per type. `external`: `_external_contexts()`, if already read."""
    from annotations.models import Example
    from chat.models import Conversation, Feedback, Topic, Turn, TurnContext
    from knowledge.models import Chunk, Document

    ids = {
        "User": {str(pk) for pk in Conversation.objects.values_list("user_id", flat=True)},
        "Conversation": _idset(Conversation),
        "Topic": _idset(Topic),
        "Document": _idset(Document),
        "Chunk": _idset(Chunk),
        "Feedback": _idset(Feedback),
        "Example": _idset(Example),
        "Message": set(),
    }
    turns = list(
        Turn.objects.values_list(
            "id", "question_uid", "conversation_id", "topic_id", "replay_of_id"
        )
    )
    for tid, quid, *_ in turns:
        ids["Message"] |= {str(tid), str(quid)}
    external = _external_contexts() if external is None else external
    ids["Document"] |= {e[2] for e in external}
    ids["Chunk"] |= {e[3] for e in external}
    convs_with_turns = len({t[2] for t in turns})
    rels = {
        "STARTED": Conversation.objects.count(),
        "FIRST": convs_with_turns,
        "NEXT": 2 * len(turns) - convs_with_turns,
        "HAS_CONTEXT": TurnContext.objects.count(),
        "HAS_CHUNK": len(ids["Chunk"]),
        "ABOUT": sum(1 for t in turns if t[3]),
        "REPLAY_OF": sum(1 for t in turns if t[4]),
        "RATES": len(ids["Feedback"]),
        "FROM": len(ids["Example"]),
    }
    Review = _model("annotations.Review")
    if Review is not None:
        ids["Review"] = _idset(Review)
        ids["Correction"] = {
            str(pk)
            for pk, text in Review.objects.values_list("id", "corrected_answer")
            if text.strip()
        }
        rels["REVIEWS"], rels["CORRECTS_WITH"] = len(ids["Review"]), len(ids["Correction"])
    Release, Item = _model("datasets.Release"), _model("datasets.ReleaseItem")
    if Release is not None and Item is not None:
        ids["Release"] = _idset(Release)
        rels["INCLUDES"] = Item.objects.count()
    return ids, rels


def _idset(model) -> set[str]:
    return {str(pk) for pk in model.objects.values_list("pk", flat=True)}


# Edges lineage answers with ("which context produced this answer", "what was it rated")
# are compared edge by edge, not only counted: type -> Cypher returning one tuple per edge,
# the uid of the node it leaves first (the owner that a repair rewrites), and that
# node's label.
LINKS = {
    "HAS_CONTEXT": (
        "MATCH (a:Message)-[r:HAS_CONTEXT]->(c:Chunk) RETURN a.uid, c.uid, r.rank",
        "Message",
    ),
    "ABOUT": ("MATCH (q:Message)-[:ABOUT]->(t:Topic) RETURN q.uid, t.uid", "Message"),
    "RATES": ("MATCH (f:Feedback)-[:RATES]->(a:Message) RETURN f.uid, a.uid, f.rating", "Feedback"),
    "FROM": ("MATCH (e:Example)-[:FROM]->(a:Message) RETURN e.uid, a.uid", "Example"),
}


def expected_links(external: list[tuple] | None = None) -> dict[str, set[tuple]]:
    """The LINKS tuples SQL says the graph should hold. `external` as for `expected`."""
    from annotations.models import Example
    from chat.models import Feedback, Turn, TurnContext

    contexts = {
        (t, c, rank)
        for t, c, rank in TurnContext.objects.exclude(chunk=None).values_list(
            *map(UuidText, ("turn_id", "chunk_id")), "rank"
        )
    }
    external = _external_contexts() if external is None else external
    contexts |= {(t, chunk, rank) for t, rank, _, chunk in external}
    return {
        "HAS_CONTEXT": contexts,
        "ABOUT": set(
            Turn.objects.exclude(topic=None).values_list(
                *map(UuidText, ("question_uid", "topic_id"))
            )
        ),
        "RATES": set(Feedback.objects.values_list(*map(UuidText, ("id", "turn_id")), "rating")),
        "FROM": set(Example.objects.values_list(*map(UuidText, ("id", "turn_id")))),
    }


def check() -> Report:
    external = _external_contexts()  # read once for both
    want_ids, want_rels = expected(external)
    labels = {}
    for label, want in want_ids.items():
        rows, _ = db.cypher_query(f"MATCH (n:{label}) RETURN n.uid")
        have = [r[0] for r in rows]
        dupes = {u for u in have if have.count(u) > 1} if len(have) != len(set(have)) else set()
        have_set = set(have)
        labels[label] = LabelDiff(
            sql=len(want),
            graph=len(have),
            missing=sorted(want - have_set),
            extra=sorted((have_set - want) | dupes),
        )
    rows, _ = db.cypher_query("MATCH ()-[r]->() RETURN type(r), count(*)")
    have_rels = {t: c for t, c in rows}
    rels = {t: (want_rels.get(t, 0), have_rels.get(t, 0)) for t in set(want_rels) | set(have_rels)}
    links = {}
    for rel, want in expected_links(external).items():
        rows, _ = db.cypher_query(LINKS[rel][0])
        links[rel] = sorted({edge[0] for edge in want ^ {tuple(r) for r in rows}})
    return Report(
        labels=dict(sorted(labels.items())),
        rels=dict(sorted(rels.items())),
        links=links,
        sql_ids=want_ids,
    )


# Which entity's sync writes each relationship type (to repair a count difference).
REL_OWNER = {
    "STARTED": "conversation",
    "FIRST": "turn",
    "NEXT": "turn",
    "HAS_CONTEXT": "turn",
    "ABOUT": "turn",
    "REPLAY_OF": "turn",
    "HAS_CHUNK": "document",
    "RATES": "feedback",
    "FROM": "example",
    "REVIEWS": "review",
    "CORRECTS_WITH": "review",
    "INCLUDES": "release",
}
LABEL_ENTITY = {
    "User": "user",
    "Conversation": "conversation",
    "Topic": "topic",
    "Document": "document",
    "Feedback": "feedback",
    "Example": "example",
    "Review": "review",
    "Release": "release",
}


def reconcile(*, fix: bool = True, batch_size: int = WRITE_BATCH) -> Report:
    """Compare SQL with the graph; with `fix`, repair what differs. Returns the report
    from before the repair."""
    from chat.models import Turn, TurnContext
    from knowledge.models import Chunk

    report = check()
    if not fix or report.ok:
        return report
    todo: dict[str, set[str]] = defaultdict(set)
    for label, diff in report.labels.items():
        if diff.extra:  # not in SQL (or duplicated): remove, then re-add what SQL has
            _delete(label, diff.extra)
            missing = set(diff.missing) | (set(diff.extra) & report.sql_ids[label])
        else:
            missing = set(diff.missing)
        if not missing:
            continue
        if label in LABEL_ENTITY:
            todo[LABEL_ENTITY[label]] |= missing
        if label == "Message":
            todo["turn"] |= {
                str(t)
                for t in Turn.objects.filter(
                    Q(id__in=_uuids(missing)) | Q(question_uid__in=_uuids(missing))
                ).values_list("id", flat=True)
            }
        if label == "Correction":
            todo["review"] |= missing
        if label in {"Chunk", "Document"}:
            todo["document"] |= {
                str(d)
                for d in Chunk.objects.filter(id__in=_uuids(missing)).values_list(
                    "document_id", flat=True
                )
            }
            if any(m.startswith("ext-") for m in missing):  # passages without a chunk
                todo["turn"] |= {
                    str(t)
                    for t in TurnContext.objects.filter(chunk=None).values_list(
                        "turn_id", flat=True
                    )
                }
    for rel, (want, have) in report.rels.items():
        if want != have and rel in REL_OWNER:
            # Duplicates are invisible to MERGE: drop the type and let its owner rewrite it.
            _delete_rels(rel)
            todo[REL_OWNER[rel]] |= set(_all_ids(REL_OWNER[rel]))
    for rel, uids in report.links.items():
        if not uids:
            continue
        # MERGE keeps a wrong edge beside the right one: drop these nodes' edges first.
        write(
            f"UNWIND $rows AS id MATCH (n:{LINKS[rel][1]} {{uid: id}})-[r:{rel}]->() DELETE r", uids
        )
        if rel == "ABOUT":  # left from the question: its turn owns it
            uids = [
                str(t)
                for t in Turn.objects.filter(question_uid__in=_uuids(uids)).values_list(
                    "id", flat=True
                )
            ]
        todo[REL_OWNER[rel]] |= set(uids)
    for entity in ORDER:
        for part in _chunks(sorted(todo.get(entity, ())), batch_size):
            sync(entity, part)
    return report


def _uuids(values: Iterable[str]) -> list[uuid.UUID]:
    out = []
    for v in values:
        try:
            out.append(uuid.UUID(v))
        except ValueError:
            pass
    return out


def _delete_rels(rel: str) -> None:
    while True:
        rows, _ = db.cypher_query(
            f"MATCH ()-[r:{rel}]->() WITH r LIMIT 10000 DELETE r RETURN count(*)"
        )
        if not rows or not rows[0][0]:
            return


def _all_ids(entity: str) -> list[str]:
    from annotations.models import Example
    from chat.models import Conversation, Feedback, Topic, Turn
    from knowledge.models import Document

    models = {
        "conversation": Conversation,
        "turn": Turn,
        "feedback": Feedback,
        "topic": Topic,
        "document": Document,
        "example": Example,
        "user": get_user_model(),
        "review": _model("annotations.Review"),
        "release": _model("datasets.Release"),
    }
    model = models[entity]
    if model is None:
        return []
    if entity == "turn":  # conversation by conversation, so chains are written together
        qs = model.objects.order_by("conversation_id", "position", "id")
    elif entity == "user":
        qs = model.objects.filter(conversations__isnull=False).distinct().order_by("pk")
    else:
        qs = model.objects.order_by("pk")
    return [str(pk) for pk in qs.values_list("pk", flat=True)]


def wipe() -> None:
    while True:
        rows, _ = db.cypher_query("MATCH (n) WITH n LIMIT 5000 DETACH DELETE n RETURN count(*)")
        if not rows or not rows[0][0]:
            return


def rebuild(
    *,
    batch_size: int = WRITE_BATCH,
    clean: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> Report | None:
    """Write everything SQL holds into the graph, entity by entity, in batches. With
    `clean` the graph is emptied first; otherwise nodes SQL no longer has are removed
    afterwards (so this doubles as a full reconcile-fix)."""
    if clean:
        wipe()
    for entity in ORDER:
        for part in _chunks(_all_ids(entity), batch_size):
            sync(entity, part, deps=False)
            if progress:
                progress(entity, len(part))
    if clean:
        return None
    return reconcile(fix=True)
