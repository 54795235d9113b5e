"""Reading many rows cheaply: columns as the driver returns them, instants parsed once, id lists in chunks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from sqlalchemy import String, type_coerce

CHUNK = 2000  # ids per IN list (well below the bound-parameter limits of SQLite and PostgreSQL)


def chunks(ids: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), size):
        yield ordered[i : i + size]


def raw(column):
    """A column read as the driver returns it (no per-row conversion by the ORM)."""
    return type_coerce(column, String())


def instant(value) -> datetime | None:
    """A stored instant as a timezone-aware UTC datetime (SQLite gives naive UTC text, PostgreSQL a datetime in the
    session's zone). Always converted to UTC: Python subtracts two datetimes of one zone on their wall clocks, which
    is an hour off across a DST change."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
