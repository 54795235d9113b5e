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
    *before* the send with state ``sending``; a unique key means a retried job never sends it again. A ``sending``
    row that stays so means a worker died mid-send: the message may or may not have left (never re-sent)."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)  # "<outbox id>:<channel>:<recipient>"
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_messages.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(20))  # email, slack
    recipient: Mapped[str] = mapped_column(String(254))
    state: Mapped[str] = mapped_column(String(20), default="sending")  # sending, sent
    message_id: Mapped[str] = mapped_column(String(300), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
