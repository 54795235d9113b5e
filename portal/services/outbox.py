"""Write outbox rows in the caller's transaction. Delivery (relay to RQ or the in-process runner, retries, failure
listing) lives in ``workers``; this module only records what must happen."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models.outbox import OutboxMessage

QUEUES = ("notify", "index", "sweeps", "default")


def queue_for(kind: str) -> str:
    prefix = kind.split(".", 1)[0]
    return {"notify": "notify", "index": "index", "sweep": "sweeps"}.get(prefix, "default")


def emit(
    kind: str, payload: dict[str, Any], *, dedupe_key: str | None = None, queue: str | None = None
) -> OutboxMessage:
    """Record that ``kind`` must happen with ``payload`` once this transaction commits. With a ``dedupe_key`` the
    same fact is recorded only once, however often it is emitted (e.g. one at-risk warning per ticket and target)."""
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
