"""SLA policies, business-hours calendars, SLA events and tier spans.

The per-ticket clock itself lives on ``tickets`` (due times, paused time, the next instant the sweep must look at)
so that queues can sort by it and the sweep can find due tickets with one indexed query.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import _enum
from portal.models.base import Base, utcnow
from portal.models.tickets import Priority, Tier

DEFAULT_TARGETS: dict[Priority, tuple[int, int]] = {  # minutes: (first response, resolution)
    Priority.critical: (15, 4 * 60),
    Priority.high: (60, 8 * 60),
    Priority.medium: (4 * 60, 24 * 60),
    Priority.low: (24 * 60, 72 * 60),
}
DEFAULT_AT_RISK_PERCENT = 75
DEFAULT_PAUSE_STATUSES = ["pending", "solved"]


class SlaTargetName(str, enum.Enum):
    first_response = "first_response"
    resolution = "resolution"


class SlaEventKind(str, enum.Enum):
    at_risk = "at_risk"
    breached = "breached"
    met = "met"


class Calendar(Base):
    """Working hours per weekday in a time zone, e.g. {"mon": [["09:00", "17:00"]], ...}; 24/7 when ``always_open``."""

    __tablename__ = "business_calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    always_open: Mapped[bool] = mapped_column(default=True)
    weekly_hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    holidays: Mapped[list[Holiday]] = relationship(
        back_populates="calendar", cascade="all, delete-orphan", order_by="Holiday.day"
    )


class Holiday(Base):
    __tablename__ = "business_holidays"

    id: Mapped[int] = mapped_column(primary_key=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("business_calendars.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(100), default="")

    calendar: Mapped[Calendar] = relationship(back_populates="holidays")

    __table_args__ = (UniqueConstraint("calendar_id", "day", name="uq_business_holidays_calendar_day"),)


class SlaPolicy(Base):
    """Targets per priority. The policy without an organization is the default; an organization's own wins."""

    __tablename__ = "sla_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), unique=True)
    at_risk_percent: Mapped[int] = mapped_column(default=DEFAULT_AT_RISK_PERCENT)
    pause_statuses: Mapped[list[str]] = mapped_column(JSON, default=lambda: list(DEFAULT_PAUSE_STATUSES))
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("business_calendars.id"))
    # minutes per priority
    critical_first_response: Mapped[int] = mapped_column(default=DEFAULT_TARGETS[Priority.critical][0])
    critical_resolution: Mapped[int] = mapped_column(default=DEFAULT_TARGETS[Priority.critical][1])
    high_first_response: Mapped[int] = mapped_column(default=DEFAULT_TARGETS[Priority.high][0])
    high_resolution: Mapped[int] = mapped_column(default=DEFAULT_TARGETS[Priority.high][1])
    medium_first_response: Mapped[int] = mapped_column(default=DEFAULT_TARGETS[Priority.medium][0])
    medium_resolution: Mapped[int] = mapped_column(default=DEFAULT_TARGETS[Priority.medium][1])
    low_first_response: Mapped[int] = mapped_column(default=DEFAULT_TARGETS[Priority.low][0])
    low_resolution: Mapped[int] = mapped_column(default=DEFAULT_TARGETS[Priority.low][1])

    calendar: Mapped[Calendar | None] = relationship()

    def minutes(self, priority: Priority, target: SlaTargetName | str) -> int:
        return getattr(self, f"{Priority(priority).value}_{SlaTargetName(target).value}")


class SlaEvent(Base):
    """A threshold a ticket crossed: recorded once (unique), never deleted or recomputed — reports read these."""

    __tablename__ = "sla_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    target: Mapped[SlaTargetName] = mapped_column(_enum(SlaTargetName, "sla_target"))
    kind: Mapped[SlaEventKind] = mapped_column(_enum(SlaEventKind, "sla_event_kind"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("ticket_id", "target", "kind", name="uq_sla_events_ticket_target_kind"),
        Index("ix_sla_events_kind_at", "kind", "at"),
    )


class TierSpan(Base):
    """How long each tier held a ticket: one open span (``ended_at`` NULL) per ticket at a time."""

    __tablename__ = "tier_spans"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    tier: Mapped[Tier] = mapped_column(_enum(Tier, "tier"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(60))

    __table_args__ = (Index("ix_tier_spans_ticket_id_id", "ticket_id", "id"),)

    @property
    def seconds(self) -> float | None:
        return None if self.ended_at is None else (self.ended_at - self.started_at).total_seconds()
