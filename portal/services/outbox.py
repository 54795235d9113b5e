"""Write outbox rows in the caller's transaction. Delivery (relay to RQ or the in-process runner, retries, failure
listing) lives in ``workers``; this module only records what must happen."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import insert, select

from portal.extensions import db
from portal.models.outbox import OutboxMessage

QUEUES = ("notify", "index", "sweeps", "default")


def queue_for(kind: str) -> str:
    prefix = kind.split(".", 1)[0]
    return {"notify": "notify", "index": "index", "sweep": "sweeps"}.get(prefix, "default")


def emit(
    kind: str, payload: dict[str, Any], *, dedupe_key: str | None = None, queue: str | None = None
) -> OutboxMessage | dict[str, Any]:
    """Record that ``kind`` must happen with ``payload`` once this transaction commits. With a ``dedupe_key`` the
    same fact is recorded only once, however often it is emitted (e.g. one at-risk warning per ticket and target).
    Inside a ``buffered`` block the row is the buffer's (its column values) and is written with it."""
    buffer = db.session.info.get(_BUFFER)
    if buffer is not None:
        return buffer.emit(kind, payload, dedupe_key, queue or queue_for(kind))
    known = db.session.info.get(_KNOWN_KEYS) if dedupe_key is not None else None
    if known is not None and dedupe_key in known:
        existing = known[dedupe_key]
    elif dedupe_key is not None:
        pending = next((m for m in db.session.new if isinstance(m, OutboxMessage) and m.dedupe_key == dedupe_key), None)
        existing = pending or db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key))
    else:
        existing = None
    if existing is not None:
        return existing
    message = OutboxMessage(kind=kind, queue=queue or queue_for(kind), payload=payload, dedupe_key=dedupe_key)
    db.session.add(message)
    if known is not None:
        known[dedupe_key] = message
    return message


_KNOWN_KEYS = "outbox.known_dedupe_keys"


@contextmanager
def known_dedupe_keys(keys: Iterable[str]) -> Iterator[None]:
    """For a batch writer (the SLA sweep): look ``keys`` up once here, so ``emit`` answers them without a query (and
    the autoflush it brings) per row. Rows emitted inside the block are remembered too; other keys are looked up as
    usual. Same outcome as without the block: one row per dedupe key."""
    wanted = sorted(set(keys))
    known: dict[str, OutboxMessage | None] = dict.fromkeys(wanted)
    with db.session.no_autoflush:
        for start in range(0, len(wanted), 500):
            for message in db.session.scalars(
                select(OutboxMessage).where(OutboxMessage.dedupe_key.in_(wanted[start : start + 500]))
            ):
                known[message.dedupe_key] = message
    for message in db.session.new:  # not flushed yet
        if isinstance(message, OutboxMessage) and message.dedupe_key in known:
            known[message.dedupe_key] = message
    previous = db.session.info.get(_KNOWN_KEYS)
    db.session.info[_KNOWN_KEYS] = known
    try:
        yield
    finally:
        if previous is None:
            db.session.info.pop(_KNOWN_KEYS, None)
        else:
            db.session.info[_KNOWN_KEYS] = previous


# --------------------------------------------------------------------------- bulk writing

_BUFFER = "outbox.buffer"


def add(row: Any) -> None:
    """Save a new row (an outbox row, a webhook delivery...) with the caller's transaction: into the session, or into
    the active ``buffered`` block's buffer."""
    buffer = db.session.info.get(_BUFFER)
    if buffer is None:
        db.session.add(row)
    else:
        buffer.add(row)


class Buffer:
    """New rows held for one bulk INSERT per table (in the order they were made, so ids come out as the session would
    give them), outbox rows deduplicated by key as ``emit`` does: against the buffer and, on writing, the database.
    Rows are plain column values (``insert``), or ORM objects converted when added (``add``)."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, dict[str, Any]]] = []
        self.keys: dict[str, dict[str, Any]] = {}

    def add(self, row: Any) -> None:
        state = row.__dict__
        self.insert(row.__table__, {c.key: state[c.key] for c in row.__table__.columns if c.key in state})

    def insert(self, table: Any, values: dict[str, Any]) -> dict[str, Any]:
        """Hold ``values`` (completed with the columns' defaults, as a flush would) for ``table``; returns them (the
        caller may still change them before ``write``)."""
        for key, default in _defaults(table):
            if key not in values:
                values[key] = default()
        self.rows.append((table, values))
        return values

    def emit(self, kind: str, payload: dict[str, Any], dedupe_key: str | None, queue: str) -> dict[str, Any]:
        if dedupe_key is not None and dedupe_key in self.keys:
            return self.keys[dedupe_key]
        values = self.insert(OUTBOX, {"kind": kind, "queue": queue, "payload": payload, "dedupe_key": dedupe_key})
        if dedupe_key is not None:
            self.keys[dedupe_key] = values
        return values

    def write(self) -> dict[str, int]:
        """INSERT the rows, one executemany per table (outbox rows whose key is already stored are left out). Returns
        the rows written per table."""
        stored = _stored_keys(list(self.keys))
        tables: dict[Any, list[dict[str, Any]]] = {}
        for table, values in self.rows:
            if table is OUTBOX and values["dedupe_key"] in stored:
                continue
            tables.setdefault(table, []).append(values)
        for table, values in tables.items():
            db.session.execute(insert(table), values)
        self.rows, self.keys = [], {}
        return {table.name: len(values) for table, values in tables.items()}


@contextmanager
def buffered() -> Iterator[Buffer]:
    """For a set-based writer (the SLA sweep): inside the block ``emit`` and ``add`` (the webhook hooks' deliveries
    use it) put their rows in the yielded buffer instead of the session; the caller writes it (``Buffer.write``) or
    drops it. Same rows as without the block, one statement per table instead of one row at a time."""
    if db.session.info.get(_BUFFER) is not None:
        raise RuntimeError("outbox.buffered blocks do not nest")
    buffer = Buffer()
    db.session.info[_BUFFER] = buffer
    try:
        yield buffer
    finally:
        db.session.info.pop(_BUFFER, None)


def _stored_keys(keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        found.update(
            db.session.scalars(
                select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys[start : start + 500]))
            )
        )
    return found


OUTBOX = OutboxMessage.__table__
_DEFAULTS: dict[Any, list] = {}


def _defaults(table: Any) -> list:
    """(column, value maker) for every column but an autoincrement key: the column's default, else NULL."""
    if table not in _DEFAULTS:
        makers = []
        for column in table.columns:
            default = column.default
            if column.primary_key and column.autoincrement in (True, "auto") and not column.foreign_keys:
                continue
            if default is not None and default.is_callable:
                makers.append((column.key, lambda arg=default.arg: arg(None)))
            elif default is not None and default.is_scalar:
                makers.append((column.key, lambda value=default.arg: value))
            else:
                makers.append((column.key, lambda: None))
        _DEFAULTS[table] = makers
    return _DEFAULTS[table]
