"""Customer satisfaction: one survey per resolution cycle of a ticket.

A survey is offered when a ticket enters ``solved`` (cycle = how many times it has been solved), withdrawn when the
ticket is reopened before the customer answers, and expires after ``CSAT_EXPIRY_DAYS``. The rating (1–5) and its
instant are the facts reports read.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import User, _enum
from portal.models.base import Base, utcnow
from portal.models.tickets import Ticket


class SurveyState(str, enum.Enum):
    open = "open"
    answered = "answered"
    withdrawn = "withdrawn"
    expired = "expired"


class CsatSurvey(Base):
    __tablename__ = "csat_surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    cycle: Mapped[int] = mapped_column(default=1)
    state: Mapped[SurveyState] = mapped_column(_enum(SurveyState, "survey_state"), default=SurveyState.open)
    offered_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    rating: Mapped[int | None]
    comment: Mapped[str] = mapped_column(Text, default="")
    rated_at: Mapped[datetime | None]
    source: Mapped[str | None] = mapped_column(String(10))  # email, portal, import
    followed_up_at: Mapped[datetime | None]
    followed_up_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    ticket: Mapped[Ticket] = relationship()
    requester: Mapped[User] = relationship(foreign_keys=[requester_id])
    followed_up_by: Mapped[User | None] = relationship(foreign_keys=[followed_up_by_id])

    __table_args__ = (
        UniqueConstraint("ticket_id", "cycle", name="uq_csat_surveys_ticket_cycle"),
        Index("ix_csat_surveys_rated_at", "rated_at"),
        Index("ix_csat_surveys_ticket_id", "ticket_id"),
        Index("ix_csat_surveys_state_expires_at", "state", "expires_at"),
    )
