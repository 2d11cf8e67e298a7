"""Input limits shared by the JSON API (reviewhub/apispec.py) and the HTML forms.

One home for "what may be stored": text without NUL characters or unpaired surrogates
(PostgreSQL refuses NUL in text and jsonb, and a lone surrogate cannot be encoded as UTF-8),
integers that fit the column, finite numbers, date-times in a range every database and the
graph can hold, and JSON values of bounded depth. Each check raises ValueError with the
message the user sees; `FormLimits` applies the same checks to a Django form's fields.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # PostgreSQL `integer`
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # numbers inside JSON values (the graph's integers)
# Date-times from clients: nothing before 2000 (no LLM conversation is older; year 1 with a +14:00
# offset is before year 1 in UTC, which PostgreSQL stores and Python cannot read back) and nothing
# more than a day ahead of this server's clock (clock skew, not the future).
MIN_DATETIME = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
MAX_UTC_OFFSET = timedelta(hours=14)  # the real range of UTC offsets is -12:00 .. +14:00
# Dates typed into filter forms: the same floor, and a ceiling far enough for "until".
MIN_DATE, MAX_DATE = date(2000, 1, 1), date(2999, 12, 31)
MAX_JSON_DEPTH = 20

NUL_MESSAGE = "Must not contain NUL characters."
SURROGATE_MESSAGE = "Must not contain unpaired surrogate characters."


def check_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError(NUL_MESSAGE)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(SURROGATE_MESSAGE) from None
    return value


DATETIME_RANGE_MESSAGE = "Must be from 2000-01-01T00:00:00Z to one day from now."


def check_datetime(value: datetime) -> datetime:
    """An aware date-time in the accepted range, in UTC; a value without an offset is UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    offset = value.utcoffset() or timedelta(0)
    if abs(offset) > MAX_UTC_OFFSET:
        raise ValueError("The UTC offset must be between -14:00 and +14:00.")
    # The year first: converting year 1 with a positive offset to UTC overflows.
    if value.year < MIN_DATETIME.year:
        raise ValueError(DATETIME_RANGE_MESSAGE)
    # Compare in UTC (same tzinfo: no offset lookups) with datetime.now, not timezone.now,
    # which reads settings: measured from inside pydantic's validator, each cost ~20 µs a call.
    value = value.astimezone(UTC)
    if not MIN_DATETIME <= value <= datetime.now(UTC) + FUTURE_SLACK:
        raise ValueError(DATETIME_RANGE_MESSAGE)
    return value


def check_json_value(value: object, *, max_depth: int = MAX_JSON_DEPTH) -> object:
    """A JSON value (from a parser) that every store can hold: bounded depth, text checked,
    finite numbers, 64-bit integers. Iterative, so depth never meets Python's recursion limit."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise ValueError(f"Nested deeper than {max_depth} levels.")
        if isinstance(node, dict):
            for key, child in node.items():
                check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
        elif isinstance(node, str):
            check_text(node)
        elif isinstance(node, bool) or node is None:
            continue
        elif isinstance(node, int):
            if not INT64_MIN <= node <= INT64_MAX:
                raise ValueError("Integers must fit in 64 bits.")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise ValueError("Numbers must be finite (no NaN or Infinity).")
        else:
            raise ValueError("Must be a JSON value.")
    return value


# --- Django forms ------------------------------------------------------------------------------


def validate_text(value: object) -> None:
    """A Django validator wrapping check_text (forms.CharField already refuses NUL itself)."""
    if isinstance(value, str):
        try:
            check_text(value)
        except ValueError as exc:
            raise ValidationError(str(exc), code="text") from None


def validate_date(value: object) -> None:
    if isinstance(value, date) and not isinstance(value, datetime):
        if not MIN_DATE <= value <= MAX_DATE:
            raise ValidationError(
                f"Must be between {MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}.", code="range"
            )


def validate_datetime(value: object) -> None:
    if isinstance(value, datetime):
        try:
            check_datetime(value)
        except ValueError as exc:
            raise ValidationError(str(exc), code="range") from None


def _limit_field(field: forms.Field) -> None:
    if getattr(field, "_limits_applied", False):
        return
    field._limits_applied = True
    if isinstance(field, forms.CharField):
        field.validators.append(validate_text)
    elif isinstance(field, forms.IntegerField):
        # A form integer is stored in an `integer` column or used in a query against one:
        # 10**400 must be a message, not a database error.
        low = field.min_value if field.min_value is not None else INT32_MIN
        high = field.max_value if field.max_value is not None else INT32_MAX
        field.validators += [MinValueValidator(max(low, INT32_MIN))]
        field.validators += [MaxValueValidator(min(high, INT32_MAX))]
    elif isinstance(field, forms.DateTimeField):
        field.validators.append(validate_datetime)
    elif isinstance(field, forms.DateField):
        field.validators.append(validate_date)


class FormLimits:
    """Mix into a form (`class F(FormLimits, forms.Form)`) to give every field the limits above:
    text without NUL/unpaired surrogates, integers within a 32-bit column, dates in range.
    Applied at validation time, so fields a form adds in __init__ are covered too."""

    def full_clean(self) -> None:
        for field in self.fields.values():
            _limit_field(field)
        super().full_clean()
