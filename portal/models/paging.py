"""On-call levels and overrides, hotline calls and the pages they raise.

A page is one ticket's escalation chain (primary on-call → secondary → the managers); each person notified on the
way is a ``PageAttempt``, which carries the signed acknowledgement link they were sent.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import User, _enum
from portal.models.base import Base, utcnow


class OnCallLevel(str, enum.Enum):
    primary = "primary"
    secondary = "secondary"

    @property
    def label(self) -> str:
        return self.value.title()


class PageState(str, enum.Enum):
    open = "open"  # waiting for an acknowledgement
    acknowledged = "acknowledged"

    @property
    def label(self) -> str:
        return {"open": "Awaiting acknowledgement", "acknowledged": "Acknowledged"}[self.value]


# The escalation policy, in order. A step with nobody in it is skipped (and the ticket says so).
PAGE_STEPS: tuple[str, ...] = ("primary", "secondary", "manager")
STEP_LABELS = {"primary": "primary on-call", "secondary": "secondary on-call", "manager": "manager"}


class OnCallOverride(Base):
    """Someone covers a level of the rotation for a period (a swap, a sick day): it wins over the rotation entry."""

    __tablename__ = "on_call_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[OnCallLevel] = mapped_column(_enum(OnCallLevel, "on_call_level"), default=OnCallLevel.primary)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    __table_args__ = (Index("ix_on_call_overrides_ends_at_starts_at", "ends_at", "starts_at"),)


class HotlineCall(Base):
    """One call to the emergency hotline: from the telephony provider's webhook (its ``call_id``, unique, so a
    re-sent webhook finds the first result) or typed in by the agent who took it (``manual-…`` ids)."""

    __tablename__ = "hotline_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(String(100), unique=True)
    source: Mapped[str] = mapped_column(String(10), default="webhook")  # webhook | manual
    from_number: Mapped[str] = mapped_column(String(32), default="")
    to_number: Mapped[str] = mapped_column(String(32), default="")
    caller_name: Mapped[str] = mapped_column(String(200), default="")
    caller_email: Mapped[str] = mapped_column(String(254), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime | None]
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    taken_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requester_detail: Mapped[str] = mapped_column(String(300), default="")  # how the caller was identified
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket = relationship("Ticket")
    requester: Mapped[User | None] = relationship(foreign_keys=[requester_id])
    taken_by: Mapped[User | None] = relationship(foreign_keys=[taken_by_id])


class Page(Base):
    """The paging of one ticket: the step of ``PAGE_STEPS`` reached, when the next step is due unless someone
    acknowledges first. ``next_escalation_at`` None: the chain has nowhere further to go."""

    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("hotline_calls.id", ondelete="SET NULL"))
    state: Mapped[PageState] = mapped_column(_enum(PageState, "page_state"), default=PageState.open)
    step: Mapped[int] = mapped_column(default=0)  # index into PAGE_STEPS
    next_escalation_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket = relationship("Ticket")
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])
    attempts: Mapped[list[PageAttempt]] = relationship(
        back_populates="page", order_by="PageAttempt.id", cascade="all, delete-orphan"
    )

    @property
    def step_name(self) -> str:
        return PAGE_STEPS[min(self.step, len(PAGE_STEPS) - 1)]

    __table_args__ = (Index("ix_pages_state_next_escalation_at", "state", "next_escalation_at"),)


class PageAttempt(Base):
    """One person paged at one step: the channels it went out on (``channels``: slack, email, sms)."""

    __tablename__ = "page_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(20))  # primary | secondary | manager
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    paged_at: Mapped[datetime] = mapped_column(default=utcnow)

    page: Mapped[Page] = relationship(back_populates="attempts")
    user: Mapped[User] = relationship()

    __table_args__ = (Index("uq_page_attempts_page_id_step_user_id", "page_id", "step", "user_id", unique=True),)
