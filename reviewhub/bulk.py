"""Fast multi-row INSERTs (and upserts) for hot write paths: ingestion, the outbox, the queue.

`QuerySet.bulk_create` spends most of its time building model instances and preparing every
value through the expression machinery; at 500 interactions (≈2,500 rows) a request that is
most of the cost. Here rows are plain dicts turned into tuples with one converter per column
(chosen once from the field type, the same conversions Django's fields apply, each run over a
whole column: no Python call per value), then sent with one `executemany` per table
(SQLite), or one `COPY … FROM STDIN` (PostgreSQL; an upsert COPYs into a temp table and
upserts from it in one INSERT … SELECT … ON CONFLICT).
Columns missing from a row get the field's default, so a field added later with a default
needs no change here; a field without one fails loudly in tests.

Why COPY on PostgreSQL: psycopg's executemany sends a Bind/Execute per row, and at ~2,500 rows
a request both psycopg (Python, per row) and the server (a statement per row) paid for it:
the executemany INSERTs were ~50 ms of the web process's CPU per 500-interaction request and
two thirds of bulk approval's time (issue #17); with COPY, 58 ms and the example upsert's
server time a fifth of what it was. COPY streams the rows in one statement, each
row formatted by psycopg's C `write_row`; row triggers (the search document) still fire.
Values go as text: uuids as hex, JSON as orjson's text (the server parses it into jsonb, as it
does the INSERT path's), timestamps through psycopg's own dumper.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Callable, Iterable
from functools import lru_cache

import orjson
from django.db import connection, models, transaction

_IDENTITY = None  # a column whose Python value is already what the driver takes
_CONSTANT = object()  # marks a column whose every row gets the same default value


def _converter(field: models.Field, copy: bool) -> Callable | None:
    target = field.target_field if field.is_relation else field
    if isinstance(target, models.UUIDField):
        if connection.features.has_native_uuid_field and not copy:
            return _IDENTITY
        return _uuid_hex
    if isinstance(field, models.DateTimeField):
        return _memo(connection.ops.adapt_datetimefield_value)  # rows share timestamps
    if isinstance(field, models.JSONField):
        if copy:
            if field.encoder is None:
                return _json_text
            return lambda values: [json.dumps(v, cls=field.encoder) for v in values]
        if connection.vendor == "postgresql" or field.encoder is not None:
            encoder = field.encoder or _JsonText
            return lambda values: [connection.ops.adapt_json_value(v, encoder) for v in values]
        return _json_text
    return _IDENTITY


def _uuid_hex(values: list) -> list:
    return [None if v is None else v.hex for v in values]


def _json_text(values: list) -> list:
    """JSON text, compact, by orjson (~10x json.dumps); the rare value orjson refuses
    (an integer past 64 bits) goes through json.dumps, which Django would have used."""
    dumps, option = orjson.dumps, orjson.OPT_NON_STR_KEYS
    out = []
    for v in values:
        try:
            out.append(dumps(v, option=option).decode())
        except TypeError:
            out.append(json.dumps(v))
    return out


class _JsonText(json.JSONEncoder):
    """For PostgreSQL's Jsonb adapter: orjson's text through the encoder hook Django takes."""

    def encode(self, o) -> str:
        return _json_text([o])[0]


def insert(model: type[models.Model], rows: Iterable[dict]) -> int:
    """INSERT the rows (dicts keyed by field attname) in one executemany; returns the count."""
    return _execute(model, rows, "")


def upsert(
    model: type[models.Model],
    rows: Iterable[dict],
    *,
    unique: tuple[str, ...],
    update: tuple[str, ...],
) -> int:
    """INSERT … ON CONFLICT (unique) DO UPDATE SET the `update` columns (SQLite ≥ 3.24 and
    PostgreSQL share the syntax); returns the count of rows sent. Rows sharing a key end as
    one row per key executed one after another would leave: the first row, with the last
    one's `update` columns."""
    qn = connection.ops.quote_name
    column = {f.attname: f.column for f in model._meta.concrete_fields}
    conflict = (
        f" ON CONFLICT ({', '.join(qn(column[name]) for name in unique)}) DO UPDATE SET "
        + ", ".join(f"{qn(column[name])} = excluded.{qn(column[name])}" for name in update)
    )
    rows = list(rows)
    if connection.vendor == "postgresql":
        # one INSERT … SELECT may not update a row twice: merge same-key rows first
        _execute(model, _merged(rows, unique, update), conflict)
        return len(rows)
    return _execute(model, rows, conflict)


def _merged(rows: list[dict], unique: tuple[str, ...], update: tuple[str, ...]) -> list[dict]:
    by_key: dict = {}
    for row in rows:
        key = tuple(row.get(name) for name in unique)
        if None in key:  # NULLs never conflict: a row of its own
            key = object()
        first = by_key.get(key)
        by_key[key] = row if first is None else first | {n: row[n] for n in update if n in row}
    return rows if len(by_key) == len(rows) else list(by_key.values())


def _execute(model: type[models.Model], rows: Iterable[dict], suffix: str) -> int:
    rows = list(rows)
    if not rows:
        return 0
    copy = connection.vendor == "postgresql" and len(rows) >= COPY_MIN_ROWS
    # Rows of one call nearly always share their keys: when every row has as many as the
    # first, take the first row's (a KeyError then means they differ after all); otherwise,
    # or then, the union of all rows' keys.
    given = frozenset(rows[0])
    columns = None
    if all(len(row) == len(given) for row in rows):
        try:
            columns = _columns(model, rows, given, True, copy)
        except KeyError:
            pass
    if columns is None:
        given = frozenset().union(*(row.keys() for row in rows))
        complete = all(len(row) == len(given) for row in rows)
        columns = _columns(model, rows, given, complete, copy)
    sql = _plan(model, given, connection.vendor, copy)[0]
    values = list(zip(*columns, strict=True))
    with connection.cursor() as cursor:
        if copy and suffix:
            _copy_upsert(cursor, model, sql, values, suffix)
        elif copy:
            _copy(cursor, sql, values)
        elif len(values) == 1:
            cursor.execute(sql + suffix, values[0])
        else:
            _insert_many(cursor, sql, values, suffix)
    return len(values)


def insert_values(model: type[models.Model], names: tuple[str, ...], values: list[tuple]) -> int:
    """INSERT rows already in the form the database takes (a tuple per row, one value per
    field attname in `names`: no conversion here), by COPY on PostgreSQL as `insert` does;
    for a caller that builds its values in one pass (the release snapshot)."""
    if not values:
        return 0
    qn = connection.ops.quote_name
    column = {f.attname: f.column for f in model._meta.concrete_fields}
    table, columns = qn(model._meta.db_table), ", ".join(qn(column[n]) for n in names)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(values) >= COPY_MIN_ROWS:
            _copy(cursor, f"COPY {table} ({columns}) FROM STDIN", values)
        else:
            placeholders = ", ".join(["%s"] * len(names))
            _insert_many(cursor, f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", values)
    return len(values)


def _insert_many(cursor, sql: str, values: list[tuple], suffix: str = "") -> None:
    """Many rows by one INSERT of one row's placeholders: multi-row statements on SQLite,
    an executemany elsewhere (PostgreSQL's COPY threshold is the callers')."""
    if connection.vendor == "sqlite":
        _sqlite_rows(cursor, sql, values, suffix)
    else:
        cursor.executemany(sql + suffix, values)


def _sqlite_rows(cursor, sql: str, values: list[tuple], suffix: str) -> None:
    """SQLite: the rows as multi-row INSERTs (`VALUES (…), (…), …`), as many rows per
    statement as the connection's host-parameter limit allows, not an executemany. Each
    execution of a statement is its own statement transaction, and a statement that writes
    an FTS5 table (the search triggers on chat_turn) makes FTS5 flush its pending terms as
    a new index segment at each one: row by row, a 500-turn batch wrote 500 segments and
    merged them, 25 ms of a 63 ms ingestion request; in one statement, 10 ms (issue #17)."""
    head, _, row = sql.partition(" VALUES ")
    width = len(values[0])
    limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per_statement = max(1, min(MAX_ROWS_PER_STATEMENT, limit // width))
    # Django's SQLite cursor rewrites each %s to ? with a regex: ~3 ms for a request's ~30,000
    # placeholders. Written with ? and sent to sqlite3's own cursor instead, with Django's
    # error wrapping, unless something watches the queries (a test's query log, an
    # execute_wrapper): then through Django's cursor, as any other statement.
    watched = connection.queries_logged or connection.execute_wrappers
    if not watched:
        head, row = head.replace("%s", "?"), row.replace("%s", "?")
    for start in range(0, len(values), per_statement):
        chunk = values[start : start + per_statement]
        statement = f"{head} VALUES {', '.join([row] * len(chunk))}{suffix}"
        params = [value for one in chunk for value in one]
        if watched:
            cursor.execute(statement, params)
        else:
            with connection.wrap_database_errors:
                sqlite3.Cursor.execute(cursor.cursor, statement, params)


# Rows per multi-row INSERT on SQLite: a statement's parse and plan are paid once per
# distinct row count, and past a few hundred rows a longer one gains nothing.
MAX_ROWS_PER_STATEMENT = 500


def _copy(cursor, sql: str, values: list[tuple]) -> None:
    # Django's cursor wrapper passes .copy through to psycopg's cursor, unwrapped: its errors
    # are made Django's here (an IntegrityError for a duplicate key, as executemany raises)
    with connection.wrap_database_errors, cursor.copy(sql) as stream:
        write = stream.write_row
        for row in values:
            write(row)


def _copy_upsert(cursor, model: type[models.Model], sql: str, values: list, suffix: str) -> None:
    """PostgreSQL upsert: COPY into a session temp table of the same columns, then one
    INSERT … SELECT … ON CONFLICT. The temp table is emptied after use (in the same
    transaction, so a rollback leaves it as it was); it is made on a connection's first use."""
    qn = connection.ops.quote_name
    table = model._meta.db_table
    target = sql.removeprefix("COPY ").removesuffix(" FROM STDIN")
    names = target[target.index("(") :]
    # named after its columns too: a connection that outlives a migration makes a new one
    staging = qn(f"bulk_{zlib.crc32(names.encode()):08x}_{table}"[:63])
    with transaction.atomic(savepoint=False):  # the temp table's rows live in one transaction
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {staging} AS "
            f"SELECT {names[1:-1]} FROM {qn(table)} WITH NO DATA"
        )
        _copy(cursor, f"COPY {staging} {names} FROM STDIN", values)
        cursor.execute(f"INSERT INTO {target} SELECT {names[1:-1]} FROM {staging}{suffix}")
        cursor.execute(f"DELETE FROM {staging}")


# Below this, one INSERT (or a short executemany) costs about what COPY's set-up does.
COPY_MIN_ROWS = 2


def _columns(
    model: type[models.Model], rows: list[dict], given: frozenset, complete: bool, copy: bool
) -> list[list]:
    # Built column by column with comprehensions: no function call per value for the
    # columns that need no conversion, which is most of them.
    plan = _plan(model, given, connection.vendor, copy)[1]
    return [_column(rows, complete, *step) for step in plan]


def _column(
    rows: list[dict], complete: bool, name: str | None, convert: Callable | None, default: Callable
) -> list:
    if name is None:  # not in the rows: the field's default (a constant, or per row)
        return [default] * len(rows) if convert is _CONSTANT else [default() for _ in rows]
    if complete:
        raw = [row[name] for row in rows]
    else:
        raw = [row[name] if name in row else default() for row in rows]
    return raw if convert is None else convert(raw)


@lru_cache(maxsize=64)
def _plan(
    model: type[models.Model], given: frozenset, vendor: str, copy: bool = False
) -> tuple[str, list]:
    """The INSERT (or COPY) statement and, per column, (row key or None, converter, default)."""
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
    plan = []
    for field in fields:
        convert = _converter(field, copy)
        if field.attname in given:
            plan.append((field.attname, convert, field.get_default))
        elif field.has_default() and callable(field.default) and field.default not in (dict, list):
            # e.g. uuid4: a new value per row
            plan.append((None, None, lambda f=field, c=convert: _apply(c, f.get_default())))
        else:
            plan.append((None, _CONSTANT, _apply(convert, field.get_default())))
    qn = connection.ops.quote_name
    target = f"{qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)})"
    if copy:
        return f"COPY {target} FROM STDIN", plan
    return f"INSERT INTO {target} VALUES ({', '.join(['%s'] * len(fields))})", plan


def _apply(convert: Callable | None, value: object) -> object:
    return value if convert is None else convert([value])[0]


def _memo(convert: Callable) -> Callable:
    def converted(values: list) -> list:
        cache: dict = {}  # one batch's rows share a few timestamps
        out = []
        for value in values:
            if value not in cache:
                cache[value] = convert(value)
            out.append(cache[value])
        return out

    return converted
