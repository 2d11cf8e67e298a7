"""The projection: per-entity writers that make the graph show the current SQL state.

The relational database is the system of record. Every writer loads the *current* SQL
state of the ids it is given, in bulk, and writes it with parameterised
`UNWIND $rows AS row MERGE … SET …` statements keyed on stable ids, so running it twice
changes nothing. An id that no longer exists in SQL is removed from the graph
(DETACH DELETE). `SYNCERS` has one writer per outbox entity (graph.schema.ENTITIES).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import partial

from django.contrib.auth import get_user_model
from neomodel import db

from graph.cypher import (
    Pipeline,
    UuidText,
    absent,
    as_strs,
    as_uuids,
    batches,
    create_node,
    delete_nodes,
    existing_uids,
    is_transient,
    iso,
    sql_rows,
    upsert_query,
    write,
)

# An edge MERGEd between a hub (a user's conversations, a document's chunks, a release's
# examples) and a node with few edges is written from the small end, `MERGE (n)<-[:R]-(hub)`:
# the embedded server looks for an existing edge from the pattern's first node, and from the
# hub that is a walk over all its edges. Measured with 4,000 edges on the hub: 500 rows took
# 41 s written from the hub, 0.33 s from the other end (the same edge, on Neo4j as well).


def _placeholder_answer(var: str, key: str) -> str:
    # A message another node points at but whose turn has not been written yet:
    # created with just enough to be found; the turn's own sync fills it in.
    return (
        f"MERGE ({var}:Message {{uid: {key}}}) "
        f"ON CREATE SET {var}.role = 'assistant', {var}.turn_uid = {key}"
    )


def _upsert_at_answer(label: str, rel: str, dates: Iterable[str] = ()) -> str:
    """Upsert the rows' nodes (`upsert_query`) and MERGE each one's `rel` edge to the answer
    `row.turn` (a placeholder answer while its turn is not in the graph yet)."""
    return (
        upsert_query(label, dates)
        + " WITH n, row "
        + _placeholder_answer("a", "row.turn")
        + f" MERGE (n)-[:{rel}]->(a)"
    )


def _write_at_answer(label: str, rel: str, dates: list[str], rows: list[dict]) -> None:
    """`_upsert_at_answer` for the rows whose node the graph has; the others (the usual
    case for scores and examples, made in bulk) are CREATEd with their edge, which a new
    node cannot have yet (`_create_or_merge`: MERGE should one appear meanwhile)."""
    upsert = _upsert_at_answer(label, rel, dates)
    known = existing_uids(label, [r["uid"] for r in rows])
    write(upsert, [r for r in rows if r["uid"] in known])
    fresh = [r for r in rows if r["uid"] not in known]
    if fresh:
        keys = {k for r in fresh for k in r["p"]}
        create = (
            "UNWIND $rows AS row "
            + create_node("n", label, keys, dates)
            + " WITH n, row "
            + _placeholder_answer("a", "row.turn")
            + f" CREATE (n)-[:{rel}]->(a)"
        )
        _create_or_merge(create, upsert, fresh)


def external_ids(source: str, text: str) -> tuple[str, str]:
    """(document uid, chunk uid) for a context passage that has no knowledge-base chunk
    (sent through the ingestion API): a Document per source, a Chunk per source + text."""
    doc = "ext-" + hashlib.sha256(source.encode()).hexdigest()[:32]
    chunk = "ext-" + hashlib.sha256(f"{source}\n{text}".encode()).hexdigest()[:32]
    return doc, chunk


# --- users, topics, documents, conversations -----------------------------------------


def sync_users(ids: Iterable[object], *, deps: bool = True, write: Callable = write) -> None:
    ids = as_strs(ids)
    pks = [int(i) for i in ids if i.isdigit()]
    # Only people who chatted belong in the graph (accounts alone say nothing about usage).
    found = list(
        get_user_model()
        .objects.filter(pk__in=pks, conversations__isnull=False)
        .distinct()
        .values("pk", "username")
    )
    write(
        upsert_query("User"),
        [{"uid": str(u["pk"]), "p": {"username": u["username"]}} for u in found],
    )
    delete_nodes("User", absent(ids, (str(u["pk"]) for u in found)))


def sync_topics(ids: Iterable[object], *, deps: bool = True) -> None:
    from chat.models import Topic

    ids = as_strs(ids)
    found = list(
        Topic.objects.filter(pk__in=as_uuids(ids)).values(
            "id", "name", "keywords", "method", "pinned", "terms"
        )
    )
    write(
        upsert_query("Topic"),
        [
            {
                "uid": str(t["id"]),
                "p": {
                    "name": t["name"],
                    "keywords": json.dumps(t["keywords"]),
                    "method": t["method"],
                    "pinned": t["pinned"],
                    "terms": json.dumps(t["terms"]),
                },
            }
            for t in found
        ],
    )
    delete_nodes("Topic", absent(ids, (str(t["id"]) for t in found)))


def sync_documents(ids: Iterable[object], *, deps: bool = True) -> None:
    from knowledge.models import Chunk, Document

    ids = as_strs(ids)
    docs = list(
        Document.objects.filter(pk__in=as_uuids(ids)).values(
            "id", "title", "source", "checksum", "created_at"
        )
    )
    write(
        upsert_query("Document", ["created_at"]),
        [
            {
                "uid": str(d["id"]),
                "created_at": iso(d["created_at"]),
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
    gone = absent(ids, keep)
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
    delete_nodes("Document", gone)
    if rows:
        sync_turns([r[0] for r in rows], deps=False)


WRITE_CHUNKS = (
    "UNWIND $rows AS row MERGE (c:Chunk {uid: row.uid}) SET c += row.p "
    "WITH c, row MATCH (d:Document {uid: row.doc}) MERGE (c)<-[:HAS_CHUNK]-(d)"
)
CREATE_CHUNKS = (
    "UNWIND $rows AS row MATCH (d:Document {uid: row.doc}) "
    + create_node("c", "Chunk", ["document_uid", "text", "external"])
    + "<-[:HAS_CHUNK]-(d)"
)


def _write_chunks(rows: list[dict], write: Callable = write) -> None:
    write(WRITE_CHUNKS, rows)


def _create_or_merge(create: str, merge: str, rows: list[dict]) -> None:
    """Write rows whose nodes the graph did not have a moment ago with `create`, else
    (one was written meanwhile, by another drain or an earlier step of this one: the
    uniqueness constraint refuses the statement; or another drain's write conflicted)
    all of them with `merge`, which also finds the part of the refused statement the
    server had applied.

    Measured on the embedded server, 1,500 rows: a Chunk with its HAS_CHUNK edge to a
    document holding thousands 0.2–0.45 ms a row by CREATE, 0.9–1.3 ms by MERGE; a
    Conversation with its STARTED edge 0.22–0.58 against 0.56–0.81 ms."""
    from neomodel.exceptions import ConstraintValidationFailed

    try:
        write(create, rows)
    except ConstraintValidationFailed:
        write(merge, rows)
    except Exception as exc:
        # Another drain changed a shared neighbour (a user, a document) at the same moment:
        # the MERGE statement is retried with backoff (`run_retrying`), a CREATE is not.
        if not is_transient(exc):
            raise
        write(merge, rows)


WRITE_CONVERSATIONS = (
    upsert_query("Conversation", ["created_at"])
    + " WITH n, row MERGE (u:User {uid: row.user}) MERGE (n)<-[:STARTED]-(u)"
)
CREATE_CONVERSATIONS = (
    "UNWIND $rows AS row MATCH (u:User {uid: row.user}) "
    + create_node("n", "Conversation", ["title", "source"], ["created_at"])
    + "<-[:STARTED]-(u)"
)


def sync_conversations(
    ids: Iterable[object], *, deps: bool = True, new: bool = False, pipe: Pipeline | None = None
) -> None:
    """`new`: the caller found none of `ids` in the graph a moment ago (`_ensure`), so
    they are CREATEd (`_create_or_merge`); the users they need are synced first. `pipe`:
    the graph writes go through that pipeline (the SQL is read here)."""
    from chat.models import Conversation

    ids = as_strs(ids)
    found = list(
        Conversation.objects.filter(pk__in=as_uuids(ids)).values(
            "id", "user_id", "title", "source", "created_at"
        )
    )
    if deps or new:
        sync_users({c["user_id"] for c in found}, write=pipe.write if pipe else write)
    writer = partial(_create_or_merge, CREATE_CONVERSATIONS) if new else write
    (partial(pipe.call, writer) if pipe else writer)(
        WRITE_CONVERSATIONS,
        [
            {
                "uid": str(c["id"]),
                "user": str(c["user_id"]),
                "created_at": iso(c["created_at"]),
                "p": {"title": c["title"], "source": c["source"]},
            }
            for c in found
        ],
    )
    gone = absent(ids, (str(c["id"]) for c in found))
    if gone and pipe:
        pipe.flush()  # what follows reads and writes the graph itself
    if gone:  # rare: a scan over messages rather than an index every write pays for
        rows, _ = db.cypher_query(
            "MATCH (m:Message) WHERE m.conversation_uid IN $ids RETURN m.uid", {"ids": gone}
        )
        _delete_messages([r[0] for r in rows])
        owners, _ = db.cypher_query(
            "MATCH (u:User)-[:STARTED]->(c:Conversation) WHERE c.uid IN $ids RETURN DISTINCT u.uid",
            {"ids": gone},
        )
    delete_nodes("Conversation", gone)
    if gone:  # a user is in the graph while they have conversations (sync_users' scope)
        sync_users(r[0] for r in owners)


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
    write(match + "<-[:REVIEWS|RATES|SCORES]-(x) DETACH DELETE x", ids)
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
    ids = as_strs(ids)
    _require_schema()
    convs: set[str] = set()
    fresh: set[str] = set()
    replays: list[dict] = []
    with Pipeline() as pipe:
        # A short first step: the graph has nothing to do until it arrives.
        first = TURN_STEP // 5
        queued: set[str] = set()  # conversations and passages written by earlier steps
        for step in [ids[:first], *batches(ids[first:], TURN_STEP)]:
            _sync_turn_step(step, deps, pipe, convs, fresh, replays, queued)
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
    queued: set[str],
) -> None:
    from chat.models import Turn, TurnContext

    turns = sql_rows(
        Turn.objects.filter(pk__in=as_uuids(ids)),
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
    gone = absent(ids, (t["id"] for t in turns))
    step_convs = {t["conversation_id"] for t in turns}
    about = _about_rows(t["id"] for t in turns)
    contexts = sql_rows(
        TurnContext.objects.filter(turn_id__in=as_uuids(t["id"] for t in turns)),
        "turn_id",
        "chunk_id",
        *(["chunk__document_id"] if deps else []),
        "rank",
        "score",
        "text",
        "source",
        "title",
    )
    topics = {a["t"] for rows in about.values() for a in rows}
    chunks = (
        {c["chunk_id"]: c["chunk__document_id"] for c in contexts if c["chunk_id"]} if deps else {}
    )
    missing_topics = topics - existing_uids("Topic", sorted(topics)) if deps else set()
    missing_chunks = set(chunks) - existing_uids("Chunk", sorted(chunks))
    if gone or missing_topics or missing_chunks:
        # Synchronous graph work follows; it must not run beside the pipeline's writes
        # (the embedded server refuses concurrent changes to one node). The usual step
        # (API turns: new conversations and passages) needs none, and its graph writes
        # queue behind the previous step's while this thread reads SQL.
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
        # (a conversation an earlier step created may still be queued: not looked up)
        wanted = step_convs - queued
        missing = wanted - existing_uids("Conversation", sorted(wanted))
        if missing:  # the usual case: created with the turn
            sync_conversations(missing, new=True, pipe=pipe)
        queued |= step_convs
        if missing_topics:
            sync("topic", missing_topics)
        if missing_chunks:
            sync_documents({chunks[c] for c in missing_chunks})
    convs |= step_convs
    links = _context_links(contexts, pipe, queued)
    pipe.call(
        _write_turns,
        [{**_turn_row(t), "ctx": links.get(t["id"], []), "about": about[t["id"]]} for t in turns],
        fresh_ids,
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
        existing = existing_uids("Message", [r["a"] for r in rows] + [r["q"] for r in rows])
        known = [r for r in rows if r["a"] in existing or r["q"] in existing]
        rows = [r for r in rows if r["a"] not in existing and r["q"] not in existing]
        write(CREATE_TURN, rows)
    fresh_ids |= {r["a"] for r in rows}
    # (ABOUT stays a statement of its own: creating it inside CREATE_TURN with FOREACH made
    # the embedded server report conflicts on topics many rows of one batch point at.)
    write(CREATE_ABOUT, [{"m": r["q"], **a} for r in rows for a in r["about"]])
    write(
        "UNWIND $rows AS row "
        "MERGE (q:Message {uid: row.q}) SET q += row.qp, q.created_at = datetime(row.qat) "
        "MERGE (a:Message {uid: row.a}) SET a += row.ap, a.created_at = datetime(row.aat) "
        "MERGE (q)-[:NEXT]->(a)",
        known,
    )
    _merge_contexts({r["a"]: r["ctx"] for r in known}, [r["a"] for r in known])
    # A question's topics are several memberships (keyword, discovered, manual): rewrite them.
    write(
        "UNWIND $rows AS m MATCH (:Message {uid: m})-[r:ABOUT]->() DELETE r",
        [r["q"] for r in known],
    )
    write(CREATE_ABOUT, [{"m": r["q"], **a} for r in known for a in r["about"]])
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


CREATE_ABOUT = (
    "UNWIND $rows AS row MATCH (m:Message {uid: row.m}) MATCH (t:Topic {uid: row.t}) "
    "CREATE (m)-[:ABOUT {method: row.method, score: row.score}]->(t)"
)


def _about_rows(turn_ids: Iterable[str]) -> dict[str, list[dict]]:
    """The ABOUT edges of each turn's question: one per topic membership."""
    from chat.models import TopicMembership

    turn_ids = list(turn_ids)
    about: dict[str, list[dict]] = {t: [] for t in turn_ids}
    rows = TopicMembership.objects.filter(turn_id__in=as_uuids(turn_ids)).values_list(
        *map(UuidText, ("turn_id", "topic_id")), "method", "score"
    )
    for turn_id, topic_id, method, score in rows.order_by("turn_id", "method"):
        about[turn_id].append({"t": topic_id, "method": method, "score": score})
    return about


def _ensure(entity: str, label: str, ids: set[str]) -> None:
    """Sync those of `ids` the graph does not have yet.

    A turn's dependencies are synced as dependencies only when missing: every change to a
    conversation, topic or document records its own outbox row, and re-writing each
    document with all its chunks for every batch of turns was most of a drain's time."""
    missing = set(ids) - existing_uids(label, sorted(ids))
    if missing and entity == "conversation":  # the usual case: created with the turn
        sync_conversations(missing, new=True)
    elif missing:
        sync(entity, missing)


def _turn_row(t: dict) -> dict:
    common = {
        "turn_uid": t["id"],
        "conversation_uid": t["conversation_id"],
        "position": t["position"],
    }
    return {
        "q": t["question_uid"],
        "a": t["id"],
        "o": t["replay_of_id"],
        "qat": iso(t["created_at"]),
        "aat": iso(t["completed_at"] or t["created_at"]),
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


def _context_links(contexts: list[dict], pipe: Pipeline, queued: set[str]) -> dict[str, list[dict]]:
    """HAS_CONTEXT rows per answer; writes the external passages' Chunk/Document first
    (through `pipe`, before the turns that link to them). `queued`: passages earlier
    steps wrote (their writes may still be queued, so the graph may not show them yet);
    the new ones are added."""
    write, call = pipe.write, pipe.call
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
    # One row per document: a batch has many passages from few sources.
    write(
        "UNWIND $rows AS row MERGE (d:Document {uid: row.doc}) "
        "ON CREATE SET d.title = row.title, d.source = row.source, d.external = true",
        list({e["doc"]: e for e in external.values()}.values()),
    )
    chunks = [
        {
            "uid": e["uid"],
            "doc": e["doc"],
            "p": {"document_uid": e["doc"], "text": e["text"], "external": True},
        }
        for e in external.values()
    ]
    # Most passages sent through the API are new: those the graph lacks are CREATEd.
    known = existing_uids("Chunk", sorted(set(external) - queued)) | (queued & set(external))
    _write_chunks([c for c in chunks if c["uid"] in known], write)
    fresh = [c for c in chunks if c["uid"] not in known]
    if fresh:
        call(_create_or_merge, CREATE_CHUNKS, WRITE_CHUNKS, fresh)
    queued |= set(external)
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


def _conversation_turns(conv_ids: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """(turn id, question uid) of every turn of the conversations, in order."""
    from chat.models import Turn

    ordered: dict[str, list[tuple[str, str]]] = {c: [] for c in sorted(set(conv_ids))}
    for conv, tid, quid in (
        Turn.objects.filter(conversation_id__in=as_uuids(ordered))
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

    ids = as_strs(ids)
    found = list(
        Feedback.objects.filter(pk__in=as_uuids(ids)).values(
            "id", "turn_id", "rating", "comment", "created_at", "updated_at"
        )
    )
    write(
        _upsert_at_answer("Feedback", "RATES", ["created_at", "updated_at"]),
        [
            {
                "uid": str(f["id"]),
                "turn": str(f["turn_id"]),
                "created_at": iso(f["created_at"]),
                "updated_at": iso(f["updated_at"]),
                "p": {"rating": f["rating"], "comment": f["comment"]},
            }
            for f in found
        ],
    )
    delete_nodes("Feedback", absent(ids, (str(f["id"]) for f in found)))


def sync_scores(ids: Iterable[object], *, deps: bool = True) -> None:
    """(:Score {evaluator, version, criterion, value, normalized, reason})-[:SCORES]->(answer):
    each evaluator score of an answer, on its lineage."""
    from evaluation.models import Score

    ids = as_strs(ids)
    found = list(
        Score.objects.filter(pk__in=[int(i) for i in ids if i.isdigit()]).values(
            "id",
            "turn_id",
            "criterion",
            "value",
            "normalized",
            "reason",
            "error",
            "source",
            "updated_at",
            "evaluator_version__version",
            "evaluator_version__evaluator__name",
            "evaluator_version__evaluator__kind",
        )
    )
    _write_at_answer(
        "Score",
        "SCORES",
        ["updated_at"],
        [
            {
                "uid": str(s["id"]),
                "turn": str(s["turn_id"]),
                "updated_at": iso(s["updated_at"]),
                "p": {
                    "evaluator": s["evaluator_version__evaluator__name"],
                    "version": s["evaluator_version__version"],
                    "kind": s["evaluator_version__evaluator__kind"],
                    "criterion": s["criterion"],
                    "value": s["value"],
                    "normalized": s["normalized"],
                    "reason": s["reason"],
                    "error": s["error"],
                    "source": s["source"],
                },
            }
            for s in found
        ],
    )
    delete_nodes("Score", absent(ids, (str(s["id"]) for s in found)))


def sync_reviews(ids: Iterable[object], *, deps: bool = True) -> None:
    """(:Review)-[:REVIEWS]->(answer); a review with a corrected answer also gets
    (:Review)-[:CORRECTS_WITH]->(:Correction {uid: review uid})."""
    from annotations.models import Review

    ids = as_strs(ids)
    found = list(
        Review.objects.filter(pk__in=as_uuids(ids)).values(
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
        _upsert_at_answer("Review", "REVIEWS", ["created_at"]),
        [
            {
                "uid": str(r["id"]),
                "turn": str(r["item__turn_id"]),
                "created_at": iso(r["created_at"]),
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
            {"uid": str(r["id"]), "text": r["corrected_answer"], "at": iso(r["created_at"])}
            for r in corrected
        ],
    )
    delete_nodes("Correction", absent(ids, (str(r["id"]) for r in corrected)))
    delete_nodes("Review", absent(ids, (str(r["id"]) for r in found)))


def sync_examples(ids: Iterable[object], *, deps: bool = True) -> None:
    from annotations.models import Example

    ids = as_strs(ids)
    found = list(
        Example.objects.filter(pk__in=as_uuids(ids)).values(
            "id", "turn_id", "status", "corrected", "grounded", "model", "approved_at"
        )
    )
    _write_at_answer(
        "Example",
        "FROM",
        ["approved_at"],
        [
            {
                "uid": str(e["id"]),
                "turn": str(e["turn_id"]),
                "approved_at": iso(e["approved_at"]),
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
    delete_nodes("Example", absent(ids, (str(e["id"]) for e in found)))


def sync_releases(ids: Iterable[object], *, deps: bool = True) -> None:
    from datasets.models import Release
    from datasets.models import ReleaseItem as Item

    ids = as_strs(ids)
    found = list(
        Release.objects.filter(pk__in=as_uuids(ids)).values(
            "id", "name", "version", "state", "created_at"
        )
    )
    write(
        upsert_query("Release", ["created_at"]),
        [
            {
                "uid": str(r["id"]),
                "created_at": iso(r["created_at"]),
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
    if deps:  # examples the graph lacks; their changes come in their own outbox rows
        _ensure("example", "Example", {e for m in members.values() for e in m})
    write(
        "UNWIND $rows AS row MATCH (r:Release {uid: row.r})-[i:INCLUDES]->(e) "
        "WHERE NOT e.uid IN row.keep DELETE i",
        [{"r": r, "keep": m} for r, m in members.items()],
    )
    # Edges the release has are left alone, the others CREATEd: a release is written by one
    # drain at a time (the claim), and each attempt reads what it has first. 20,000 edges:
    # MERGE looked for each among the release's edges.
    rows, _ = db.cypher_query(
        "UNWIND $rows AS r MATCH (:Release {uid: r})-[:INCLUDES]->(e) RETURN r, e.uid",
        {"rows": list(members)},
    )
    included = {(r, e) for r, e in rows}
    write(
        "UNWIND $rows AS row MATCH (r:Release {uid: row.r}) "
        "MATCH (e:Example {uid: row.e}) CREATE (e)<-[:INCLUDES]-(r)",
        [{"r": r, "e": e} for r, m in members.items() for e in m if (r, e) not in included],
    )
    delete_nodes("Release", absent(ids, (str(r["id"]) for r in found)))


def sync_experiments(ids: Iterable[object], *, deps: bool = True) -> None:
    """(:Experiment)-[:HAS_ARM]->(:Arm)-[:PRODUCED]->(answer): an experiment, its arms and
    each arm's answers (a logged arm's answers are the questions' own turns), so an answer's
    lineage shows the experiments that replayed it."""
    from chat.models import Turn
    from experiments.models import Arm, Experiment

    ids = as_strs(ids)
    found = list(
        Experiment.objects.filter(pk__in=as_uuids(ids)).values(
            "id", "name", "status", "source", "question_hash", "created_at", "question_ids"
        )
    )
    write(
        upsert_query("Experiment", ["created_at"]),
        [
            {
                "uid": str(e["id"]),
                "created_at": iso(e["created_at"]),
                "p": {k: e[k] for k in ("name", "status", "source", "question_hash")},
            }
            for e in found
        ],
    )
    arms = list(
        Arm.objects.filter(experiment_id__in=[e["id"] for e in found]).values(
            "id",
            "experiment_id",
            "label",
            "kind",
            "position",
            "model_key",
            "grounded",
            "k",
            "conversation_id",
        )
    )
    questions = {str(e["id"]): e["question_ids"] for e in found}
    produced: dict[str, list[str]] = {}
    for arm in arms:
        if arm["kind"] == Arm.Kind.LOGGED:
            wanted = questions[str(arm["experiment_id"])]
            answers = Turn.objects.filter(pk__in=wanted).values_list(UuidText("id"), flat=True)
        else:
            answers = Turn.objects.filter(conversation_id=arm["conversation_id"]).values_list(
                UuidText("id"), flat=True
            )
        produced[str(arm["id"])] = list(answers)
    # arms no longer there (none are deleted today, but the graph follows SQL)
    write(
        "UNWIND $rows AS row MATCH (e:Experiment {uid: row.e})-[:HAS_ARM]->(r:Arm) "
        "WHERE NOT r.uid IN row.keep DETACH DELETE r",
        [
            {
                "e": str(e["id"]),
                "keep": [str(a["id"]) for a in arms if a["experiment_id"] == e["id"]],
            }
            for e in found
        ],
    )
    write(
        upsert_query("Arm")
        + " WITH n, row MATCH (e:Experiment {uid: row.experiment}) MERGE (e)-[:HAS_ARM]->(n)",
        [
            {
                "uid": str(a["id"]),
                "experiment": str(a["experiment_id"]),
                "p": {k: a[k] for k in ("label", "kind", "position", "model_key", "grounded", "k")},
            }
            for a in arms
        ],
    )
    write(
        "UNWIND $rows AS row MATCH (r:Arm {uid: row.arm})-[p:PRODUCED]->(a) "
        "WHERE NOT a.uid IN row.keep DELETE p",
        [{"arm": arm, "keep": answers} for arm, answers in produced.items()],
    )
    write(
        "UNWIND $rows AS row MATCH (r:Arm {uid: row.arm}) WITH r, row "
        + _placeholder_answer("a", "row.a")
        + " MERGE (r)-[:PRODUCED]->(a)",
        [{"arm": arm, "a": a} for arm, answers in produced.items() for a in answers],
    )
    gone = absent(ids, (str(e["id"]) for e in found))
    write(
        "UNWIND $rows AS id MATCH (:Experiment {uid: id})-[:HAS_ARM]->(r:Arm) DETACH DELETE r",
        gone,
    )
    delete_nodes("Experiment", gone)


SYNCERS: dict[str, Callable[..., None]] = {
    "user": sync_users,
    "topic": sync_topics,
    "document": sync_documents,
    "conversation": sync_conversations,
    "turn": sync_turns,
    "feedback": sync_feedback,
    "score": sync_scores,
    "review": sync_reviews,
    "example": sync_examples,
    "release": sync_releases,
    "experiment": sync_experiments,
}


def sync(entity: str, ids: Iterable[object], *, deps: bool = True) -> None:
    SYNCERS[entity](ids, deps=deps)
