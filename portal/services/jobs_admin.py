"""What admins see of background work: outbox rows by status, failures to retry, sends of uncertain outcome."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import NotificationDelivery, OutboxMessage, OutboxStatus, User, utcnow
from portal.services.errors import Forbidden, NotFound, ValidationFailed


def outbox_counts() -> dict[str, int]:
    rows = db.session.execute(select(OutboxMessage.status, func.count(OutboxMessage.id)).group_by(OutboxMessage.status))
    counts = {s.value: 0 for s in OutboxStatus}
    counts.update({status.value: n for status, n in rows})
    return counts


def failed_messages(limit: int = 200) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.failed)
            .order_by(OutboxMessage.processed_at.desc(), OutboxMessage.id.desc())
            .limit(limit)
        )
    )


def retrying_messages(limit: int = 50) -> list[OutboxMessage]:
    """Pending rows that already failed at least once (waiting for their backoff)."""
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.pending, OutboxMessage.attempts > 0)
            .order_by(OutboxMessage.available_at)
            .limit(limit)
        )
    )


def uncertain_deliveries(limit: int = 50) -> list[NotificationDelivery]:
    """Sends a worker started but never confirmed (killed mid-send): never repeated automatically."""
    return list(
        db.session.scalars(
            select(NotificationDelivery)
            .where(NotificationDelivery.state == "sending")
            .order_by(NotificationDelivery.created_at.desc())
            .limit(limit)
        )
    )


def retry_message(actor: User, message_id: int) -> OutboxMessage:
    """Put a failed row back to pending with a fresh attempt budget; it is handed over after commit. Flushes."""
    if not actor.is_admin and actor.tier != "manager":
        raise Forbidden("Only admins and managers can retry jobs.")
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound("No such job.")
    if message.status is not OutboxStatus.failed:
        raise ValidationFailed("Only failed jobs can be retried.", {"status": f"This job is {message.status.value}."})
    message.status, message.attempts, message.available_at, message.processed_at = (
        OutboxStatus.pending,
        0,
        utcnow(),
        None,
    )
    db.session.flush()
    return message
