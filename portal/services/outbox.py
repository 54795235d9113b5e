"""Write outbox rows in the caller's transaction. Delivery (relay to RQ or the in-process runner, retries, failure
listing) lives in ``workers``; this module only records what must happen."""
from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import select

from portal.extensions import db
from portal.models.outbox import OutboxMessage

QUEUES = ("notify", "index", "sweeps", "default")


def queue_for(kind: str) -> str:
    prefix = kind.split(".", 1)[0]
    return {"notify": "notify", "index": "index", "sweep": "sweeps"}.get(prefix, "default")


def emit(kind: str, payload: dict[str, Any], *, dedupe_key: Optional[str] = None,
         queue: Optional[str] = None) -> OutboxMessage:
    """Record that ``kind`` must happen with ``payload`` once this transaction commits. With a ``dedupe_key`` the
    same fact is recorded only once, however often it is emitted (e.g. one at-risk warning per ticket and target)."""
    if dedupe_key is not None:
        pending = next((m for m in db.session.new if isinstance(m, OutboxMessage) and m.dedupe_key == dedupe_key), None)
        existing = pending or db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    message = OutboxMessage(kind=kind, queue=queue or queue_for(kind), payload=payload, dedupe_key=dedupe_key)
    db.session.add(message)
    return message
