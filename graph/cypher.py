"""Cypher plumbing shared by the projection, the drain and reconcile: batched UNWIND
writes, the write `Pipeline`, SQL row helpers and id conversions.

Nothing here knows the schema; graph/schema.py describes it, graph/projection.py writes it.
"""

from __future__ import annotations

import contextvars
import queue
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator

from django.db.models import CharField, F, Func, UUIDField
from neomodel import db

WRITE_BATCH = 2000


def batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write(query: str, rows: list, **params) -> None:
    """Run one parameterised UNWIND statement over `rows`, WRITE_BATCH rows at a time."""
    for part in batches(rows, WRITE_BATCH):
        run_retrying(query, {"rows": part, **params})


# Two drains writing nodes that share a neighbour (a topic, a document) at the same moment:
# the embedded server refuses the later change to the same record ("concurrent change to
# the same record. Please retry", as Neo.TransientError.Transaction.DeadlockDetected) and
# Neo4j reports deadlocks the same way. Such a statement is run again after a short
# jittered backoff (50 ms, doubling, capped at 1 s; five tries in all) — if it is
# idempotent (MERGE, SET, DELETE): measured, the embedded server keeps the part of a
# refused statement it had applied, so a statement that CREATEs is not run again here (it
# would duplicate edges); its failure goes to the drain, whose retry of the batch finds
# the nodes and takes the MERGE path.
TRANSIENT_TRIES = 5
TRANSIENT_BACKOFF_S = 0.05
CREATES = re.compile(r"\bCREATE\s*\(")


def run_retrying(query: str, params: dict) -> tuple[list, list]:
    tries = 1 if CREATES.search(query) else TRANSIENT_TRIES
    for attempt in range(tries):
        try:
            return db.cypher_query(query, params)
        except Exception as exc:
            if attempt == tries - 1 or not is_transient(exc):
                raise
            delay = min(TRANSIENT_BACKOFF_S * 2**attempt, 1.0)
            time.sleep(delay * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")


def is_transient(exc: BaseException) -> bool:
    from neo4j.exceptions import Neo4jError, TransientError

    if isinstance(exc, TransientError):
        return True
    return isinstance(exc, Neo4jError) and "concurrent" in str(exc).lower()


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


def sql_rows(qs, *fields: str) -> list[dict]:
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


def as_strs(ids: Iterable[object]) -> list[str]:
    return sorted({str(i) for i in ids})


def upsert_query(label: str, dates: Iterable[str] = ()) -> str:
    """MERGE on uid, set the row's properties `p`, and each of `dates` from the row's ISO
    string (see `iso`)."""
    return f"UNWIND $rows AS row MERGE (n:{label} {{uid: row.uid}}) SET n += row.p" + "".join(
        f", n.{d} = datetime(row.{d})" for d in dates
    )


def create_node(var: str, label: str, keys: Iterable[str], dates: Iterable[str] = ()) -> str:
    """`CREATE` of a row's node with its properties in the pattern: uid, each of `keys`
    from the row's map `p`, each of `dates` from the row's ISO string (see `iso`).

    Measured on the embedded server (3,000 passages, load ~5): CREATE then `SET c += row.p`
    costs 0.32-0.35 ms of server CPU a node with its edge, the same properties in the
    CREATE 0.11-0.12 ms; the SET rewrites the record just made. A null value is left
    unset either way (on Neo4j as on the embedded server)."""
    props = [
        "uid: row.uid",
        *(f"{k}: row.p.{k}" for k in sorted(set(keys))),
        *(f"{d}: datetime(row.{d})" for d in dates),
    ]
    return f"CREATE ({var}:{label} {{{', '.join(props)}}})"


def iso(value) -> str | None:
    """Datetimes travel as ISO strings and are stored with Cypher's `datetime()`.

    The driver's own encoding of a Python datetime costs ~25 µs a value in Python, which
    was a third of the time of writing a batch of turns; `datetime()` on the server costs
    nothing measurable. The stored value is the same instant, a zoned DateTime, on Neo4j
    and on the embedded server alike, and `datetime(null)` is null."""
    return value.isoformat() if value is not None else None


def delete_nodes(label: str, ids: Iterable[str]) -> None:
    write(f"UNWIND $rows AS id MATCH (n:{label} {{uid: id}}) DETACH DELETE n", list(ids))


def absent(requested: list[str], found: Iterable[str]) -> list[str]:
    return sorted(set(requested) - set(found))


def existing_uids(label: str, uids: list[str]) -> set[str]:
    found: set[str] = set()
    for part in batches(uids, WRITE_BATCH * 2):
        rows, _ = db.cypher_query(
            f"UNWIND $rows AS id MATCH (n:{label} {{uid: id}}) RETURN id", {"rows": part}
        )
        found |= {r[0] for r in rows}
    return found


def as_uuids(values: Iterable[str]) -> list[uuid.UUID]:
    out = []
    for v in values:
        try:
            out.append(uuid.UUID(v))
        except ValueError:
            pass
    return out


def delete_rels(rel: str) -> None:
    while True:
        rows, _ = db.cypher_query(
            f"MATCH ()-[r:{rel}]->() WITH r LIMIT 10000 DELETE r RETURN count(*)"
        )
        if not rows or not rows[0][0]:
            return


def wipe() -> None:
    while True:
        rows, _ = db.cypher_query("MATCH (n) WITH n LIMIT 5000 DETACH DELETE n RETURN count(*)")
        if not rows or not rows[0][0]:
            return
