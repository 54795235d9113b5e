"""Per-user notification preferences and the delivery ledger that makes each send happen at most once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow

# (attribute, label) in display order; every preference defaults to on.
PREFERENCE_FIELDS: tuple[tuple[str, str], ...] = (
    ("email_ticket_updates", "Replies and status changes on my tickets"),
    ("email_assignments", "Tickets assigned to me"),
    ("email_sla_alerts", "SLA warnings and breaches"),
    ("email_escalations", "Escalations"),
    ("email_handover", "Shift hand-over summaries"),
)


class NotificationPreference(Base):
    __tablename__ = "notification_preferences"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    email_ticket_updates: Mapped[bool] = mapped_column(default=True)
    email_assignments: Mapped[bool] = mapped_column(default=True)
    email_sla_alerts: Mapped[bool] = mapped_column(default=True)
    email_escalations: Mapped[bool] = mapped_column(default=True)
    email_handover: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationDelivery(Base):
    """One send (an email to one address, one Slack post) for one outbox row. The row is written and committed
    *before* the send with state ``sending`` and the Message-ID / idempotency key the send will carry; a unique key
    means a retried job never sends it again once ``sent``. A clean failure marks it ``failed`` (the job's retry
    claims it again). A ``sending`` row older than ``DELIVERY_UNCERTAIN_AFTER`` means a worker died mid-send: the
    next run of the job takes it over (compare-and-set on ``attempts``) and sends again with the same Message-ID /
    key, so the recipient sees it once. Every attempt is in ``NotificationDeliveryEvent``."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)  # "<outbox id>:<channel>:<recipient>"
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_messages.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(20))  # email, slack
    recipient: Mapped[str] = mapped_column(String(254))
    state: Mapped[str] = mapped_column(String(20), default="sending")  # sending, sent, failed
    message_id: Mapped[str] = mapped_column(String(300), default="")  # stored at claim time, re-used on a retry
    idempotency_key: Mapped[str] = mapped_column(String(64), default="")  # Slack / webhooks: same on every attempt
    attempts: Mapped[int] = mapped_column(default=1)  # claims so far (the compare-and-set of a take-over)
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]  # the latest claim: "sending" older than the uncertain timeout is retried
    sent_at: Mapped[datetime | None]


# Events of a delivery's history, in the order they happen.
DELIVERY_EVENTS = {
    "claimed": "Claimed",
    "sent": "Sent",
    "failed": "Failed",
    "taken_over": "Taken over (uncertain)",
}


class NotificationDeliveryEvent(Base):
    """One step of a delivery's history: claimed, sent, failed (with the reason), taken over as uncertain."""

    __tablename__ = "notification_delivery_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("notification_deliveries.id", ondelete="CASCADE"), index=True)
    outbox_id: Mapped[int | None] = mapped_column(index=True)
    attempt: Mapped[int]
    event: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
