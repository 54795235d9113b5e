"""Run pending outbox rows synchronously in this process (the simplest runner; the RQ relay replaces it when Redis
is configured). Marks rows done, or records the error and counts the attempt."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import select

from portal.extensions import db
from portal.models import OutboxMessage, OutboxStatus, utcnow
from workers.registry import dispatch


def run_pending(kinds: Optional[list[str]] = None, limit: int = 500) -> int:
    stmt = (select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.pending,
                                        OutboxMessage.available_at <= utcnow())
            .order_by(OutboxMessage.id).limit(limit))
    if kinds:
        stmt = stmt.where(OutboxMessage.kind.in_(kinds))
    done = 0
    for message in db.session.scalars(stmt).all():
        message.attempts += 1
        try:
            dispatch(message.kind, message.payload, message.id)
        except Exception as exc:  # recorded on the row; the caller decides on retries
            db.session.rollback()
            message = db.session.get(OutboxMessage, message.id)
            message.attempts += 1
            message.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
            db.session.commit()
            continue
        message.status, message.processed_at = OutboxStatus.done, utcnow()
        db.session.commit()
        done += 1
    return done
