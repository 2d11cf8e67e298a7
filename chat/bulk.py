"""Fast multi-row INSERTs for the ingestion API's hot path.

`QuerySet.bulk_create` spends most of its time building model instances and preparing every
value through the expression machinery; at 500 interactions (≈2,500 rows) a request that is
most of the cost. Here rows are plain dicts turned into tuples with one converter per column
(chosen once from the field type, the same conversions Django's fields apply), then sent with
one `executemany` per table. Columns missing from a row get the field's default, so a field
added later with a default needs no change here; a field without one fails loudly in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

from django.db import connection, models


def _converter(field: models.Field) -> Callable:
    target = field.target_field if field.is_relation else field
    if isinstance(target, models.UUIDField):
        if connection.features.has_native_uuid_field:
            return lambda v: v
        return lambda v: None if v is None else v.hex
    if isinstance(field, models.DateTimeField):
        return connection.ops.adapt_datetimefield_value
    if isinstance(field, models.JSONField):
        return lambda v: connection.ops.adapt_json_value(v, field.encoder)
    return lambda v: v


def insert(model: type[models.Model], rows: Iterable[dict]) -> int:
    """INSERT the rows (dicts keyed by field attname) in one executemany; returns the count."""
    rows = list(rows)
    if not rows:
        return 0
    given = frozenset().union(*(row.keys() for row in rows))
    sql, columns = _plan(model, given, connection.vendor)
    values = [tuple(column(row) for column in columns) for row in rows]
    with connection.cursor() as cursor:
        if len(values) == 1:
            cursor.execute(sql, values[0])
        else:
            cursor.executemany(sql, values)
    return len(values)


@lru_cache(maxsize=64)
def _plan(model: type[models.Model], given: frozenset, vendor: str) -> tuple[str, list[Callable]]:
    """The INSERT statement and one value getter per column (built once per row shape)."""
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
    columns: list[Callable[[dict], object]] = []
    for field in fields:
        convert = _converter(field)
        if field.attname in given:
            if isinstance(field, models.DateTimeField):
                columns.append(_from_row(field, _memo(convert)))  # rows share timestamps
            else:
                columns.append(_from_row(field, convert))
        elif callable(field.default) and field.default not in (dict, list):
            columns.append(lambda row, f=field, c=convert: c(f.get_default()))  # e.g. uuid4
        else:
            constant = convert(field.get_default())
            columns.append(lambda row, v=constant: v)
    qn = connection.ops.quote_name
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    return sql, columns


def _from_row(field: models.Field, convert: Callable) -> Callable[[dict], object]:
    name = field.attname
    default = field.get_default
    return lambda row: convert(row[name] if name in row else default())


def _memo(convert: Callable) -> Callable:
    cache: dict = {}

    def cached(value):
        if value not in cache:
            if len(cache) > 1000:
                cache.clear()
            cache[value] = convert(value)
        return cache[value]

    return cached
