"""Follow-the-sun roster: shifts, each staff member's availability, time off and the on-call rotation.

A user's region is ``users.shift_region``; specializations are ``users.specializations``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import ShiftRegion, User, _enum
from portal.models.base import Base, utcnow
from portal.models.paging import OnCallLevel

# The follow-the-sun shifts, the one definition of their hours: region → (start, end) in minutes after 00:00 UTC
# (end may be 1440). Admins may move them (``Shift`` rows); these are the defaults.
DEFAULT_SHIFTS: dict[ShiftRegion, tuple[int, int]] = {
    ShiftRegion.apac: (0, 8 * 60),
    ShiftRegion.emea: (8 * 60, 16 * 60),
    ShiftRegion.amer: (16 * 60, 24 * 60),
}


def minute_of_day(instant: datetime) -> int:
    """Minutes after 00:00 UTC of a UTC instant."""
    return instant.hour * 60 + instant.minute


def covers(start_minute: int, end_minute: int, minute: int) -> bool:
    """Whether a shift from ``start_minute`` to ``end_minute`` (UTC; it may wrap past midnight) covers ``minute``."""
    if start_minute <= end_minute:
        return start_minute <= minute < end_minute
    return minute >= start_minute or minute < end_minute


@dataclass(frozen=True)
class ShiftWindow:
    """A shift's hours as plain data (a configured ``Shift`` row or the default)."""

    region: ShiftRegion
    start_minute: int
    end_minute: int

    def covers(self, minute: int) -> bool:
        return covers(self.start_minute, self.end_minute, minute)


class Shift(Base):
    """One regional shift in UTC minutes of the day; a shift may wrap past midnight (start > end)."""

    __tablename__ = "shifts"

    id: Mapped[int] = mapped_column(primary_key=True)
    region: Mapped[ShiftRegion] = mapped_column(_enum(ShiftRegion, "shift_region"), unique=True)
    start_minute: Mapped[int] = mapped_column(default=0)
    end_minute: Mapped[int] = mapped_column(default=480)

    def covers(self, minute: int) -> bool:
        return covers(self.start_minute, self.end_minute, minute)

    @property
    def label(self) -> str:
        def hhmm(m: int) -> str:
            return f"{m // 60:02d}:{m % 60:02d}"

        return f"{hhmm(self.start_minute)}–{hhmm(self.end_minute)} UTC"


class StaffStatus(Base):
    """Availability and round-robin state of one staff member (a row appears when first needed)."""

    __tablename__ = "staff_status"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    is_away: Mapped[bool] = mapped_column(default=False)
    away_since: Mapped[datetime | None]
    last_assigned_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class TimeOff(Base):
    __tablename__ = "time_off"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()

    __table_args__ = (Index("ix_time_off_user_id_ends_at", "user_id", "ends_at"),)


class OnCall(Base):
    """One entry of the on-call rotation: ``user`` answers whatever nobody on shift can take between start and end."""

    __tablename__ = "on_call"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # Paging order of the hotline (portal/services/paging): the primary is paged first, the secondary next.
    level: Mapped[OnCallLevel] = mapped_column(
        _enum(OnCallLevel, "on_call_level"), default=OnCallLevel.primary, server_default=OnCallLevel.primary.value
    )

    user: Mapped[User] = relationship()

    __table_args__ = (Index("ix_on_call_ends_at_starts_at", "ends_at", "starts_at"),)
