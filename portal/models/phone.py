"""Phone calls logged by agents. A call is told on its ticket's timeline (a public reply when the customer was
reached, an internal note otherwise); the ``PhoneCall`` row keeps the call's own facts and points at that event."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import User, _enum
from portal.models.base import Base, utcnow
from portal.models.tickets import Ticket, TicketEvent


class CallDirection(str, enum.Enum):
    inbound = "inbound"
    outbound = "outbound"

    @property
    def label(self) -> str:
        return {"inbound": "Inbound", "outbound": "Outbound"}[self.value]


class CallOutcome(str, enum.Enum):
    answered = "answered"
    voicemail = "voicemail"
    no_answer = "no_answer"
    busy = "busy"
    callback_requested = "callback_requested"
    wrong_number = "wrong_number"
    dropped = "dropped"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class PhoneCall(Base):
    __tablename__ = "phone_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    # The timeline entry that tells the call (kept when the event is kept; events are never deleted alone).
    event_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_events.id", ondelete="SET NULL"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    direction: Mapped[CallDirection] = mapped_column(_enum(CallDirection, "call_direction"))
    number: Mapped[str] = mapped_column(String(32), default="")  # E.164, or "" when the caller was found by email
    duration_seconds: Mapped[int] = mapped_column(default=0)
    outcome: Mapped[CallOutcome] = mapped_column(_enum(CallOutcome, "call_outcome"), index=True)
    # The agent spoke with the customer: the call counts as a public staff contact (first response, SLA).
    customer_answered: Mapped[bool] = mapped_column(default=False)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_ticket: Mapped[bool] = mapped_column(default=False)  # the call opened its ticket
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship()
    event: Mapped[TicketEvent | None] = relationship()
    agent: Mapped[User] = relationship(foreign_keys=[agent_id])
    caller: Mapped[User | None] = relationship(foreign_keys=[caller_id])

    __table_args__ = (
        Index("ix_phone_calls_ticket_id_id", "ticket_id", "id"),
        Index("ix_phone_calls_created_at", "created_at"),
    )

    @property
    def duration_label(self) -> str:
        minutes, seconds = divmod(self.duration_seconds, 60)
        return f"{minutes}:{seconds:02d}"
