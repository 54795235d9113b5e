"""Run due outbox rows synchronously in this process (tests, ``flask jobs run-pending``, the embedded scheduler).
Each row goes through ``workers.runner.process``: claimed, dispatched, marked done / retried with backoff / failed."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import OutboxMessage
from workers import runner


def run_pending(kinds: list[str] | None = None, limit: int = 500) -> int:
    """Process every due row (optionally only ``kinds``); returns how many completed."""
    ids = runner.due_ids(limit)
    if kinds:
        ids = list(
            db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.id.in_(ids), OutboxMessage.kind.in_(kinds)))
        )
    db.session.commit()  # end the read transaction before the runner writes on its own connections
    return sum(1 for message_id in sorted(ids) if runner.process(message_id) == "done")
