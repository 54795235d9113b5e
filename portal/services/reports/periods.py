"""Report periods: ``[from, to)`` as calendar dates in a reporting time zone, and the UTC instants they cover.

A period starts at local midnight of ``from`` and ends at local midnight of ``to`` (``zoneinfo`` rules, so a month
that holds a daylight-saving change is 743 or 745 hours long). An instant ``at`` is in the period when
``start <= at < end``. ``days`` is the number of calendar dates in ``[from, to)``, whatever their length in hours.

    Period(date(2026, 3, 1), date(2026, 4, 1), "Europe/London")    # March 2026, 743 hours
    Period.month(date(2026, 3, 17))                                 # the month holding a date, REPORT_TIMEZONE
    Period.iso_week(date(2026, 3, 18)); Period.day(date(2026, 3, 29))
    Period.parse("2026-03-01", "2026-04-01", "Europe/London")       # request parameters; PeriodError when bad

Without a zone the configured ``REPORT_TIMEZONE`` (default ``UTC``) applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from flask import current_app, has_app_context

from portal.params import parse_date as iso_date
from portal.services.errors import ServiceError

MIN_YEAR, MAX_YEAR = 1970, 2999


class PeriodError(ServiceError):
    """A report period that cannot be built: a malformed date, an unknown zone, or ``from`` not before ``to``.
    ``fields`` names the parameter at fault (``from``, ``to``, ``tz``)."""

    status_code = 400
    code = "invalid_period"


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def default_zone_name() -> str:
    """The configured reporting zone (``REPORT_TIMEZONE``), ``UTC`` outside an app or when unset."""
    if has_app_context():
        return current_app.config.get("REPORT_TIMEZONE") or "UTC"
    return "UTC"


def zone(name: str | None) -> ZoneInfo:
    """The ``ZoneInfo`` of an IANA name (``Europe/London``); ``PeriodError`` for anything else."""
    name = (name or "").strip() or default_zone_name()
    if name not in _zone_names():
        raise PeriodError(
            f"Unknown time zone {name!r}: use an IANA zone name such as Europe/London or UTC.",
            {"tz": "Use an IANA zone name such as Europe/London or UTC."},
        )
    return ZoneInfo(name)


def parse_date(value: str | None, name: str) -> date:
    """``YYYY-MM-DD`` → date; ``PeriodError`` naming the parameter when it is missing or malformed."""
    text = (value or "").strip()
    if not text:
        raise PeriodError(f"The parameter {name!r} is required (YYYY-MM-DD).", {name: "Give a date as YYYY-MM-DD."})
    try:
        parsed = iso_date(text)  # YYYY-MM-DD in ASCII digits (not "2026-W01-1" or other ISO forms)
        if parsed is None:
            raise ValueError
    except ValueError:
        raise PeriodError(
            f"{name!r} must be a calendar date as YYYY-MM-DD (got {text[:40]!r}).",
            {name: "Give a date as YYYY-MM-DD."},
        ) from None
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise PeriodError(
            f"{name!r} must lie between {MIN_YEAR} and {MAX_YEAR}.",
            {name: f"Use a year from {MIN_YEAR} to {MAX_YEAR}."},
        )
    return parsed


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant of local midnight starting ``day`` (a midnight that a DST change skips is the first local
    instant of that day, as ``zoneinfo`` resolves it)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class Period:
    """``[start_date, end_date)`` in ``tz`` (an IANA name, a ``ZoneInfo``, or None for ``REPORT_TIMEZONE``)."""

    start_date: date
    end_date: date
    tz: ZoneInfo | str | None = None
    start: datetime = field(init=False)
    end: datetime = field(init=False)

    def __post_init__(self) -> None:
        tz = self.tz if isinstance(self.tz, ZoneInfo) else zone(self.tz)
        for name, value in (("from", self.start_date), ("to", self.end_date)):
            if not isinstance(value, date) or isinstance(value, datetime):
                raise PeriodError(f"{name!r} must be a date.", {name: "Give a date as YYYY-MM-DD."})
        if self.start_date >= self.end_date:
            raise PeriodError(
                f"The period must end after it starts: 'from' ({self.start_date}) must be before 'to' "
                f"({self.end_date}); 'to' is the first day after the period.",
                {"to": "Choose a date after 'from' (the first day after the period)."},
            )
        object.__setattr__(self, "tz", tz)
        object.__setattr__(self, "start", _midnight(self.start_date, tz))
        object.__setattr__(self, "end", _midnight(self.end_date, tz))

    # ----------------------------------------------------------------- constructors

    @classmethod
    def parse(cls, from_value: str | None, to_value: str | None, tz: str | None = None) -> Period:
        """From request parameters (``from``, ``to`` as ``YYYY-MM-DD``, ``tz`` an IANA name or empty)."""
        tzinfo = zone(tz)
        return cls(parse_date(from_value, "from"), parse_date(to_value, "to"), tzinfo)

    @classmethod
    def day(cls, day: date, tz: ZoneInfo | str | None = None) -> Period:
        return cls(day, day + timedelta(days=1), tz)

    @classmethod
    def iso_week(cls, day: date, tz: ZoneInfo | str | None = None) -> Period:
        """The ISO week (Monday to Sunday) holding ``day``."""
        monday = day - timedelta(days=day.weekday())
        return cls(monday, monday + timedelta(days=7), tz)

    @classmethod
    def month(cls, day: date, tz: ZoneInfo | str | None = None) -> Period:
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return cls(first, following, tz)

    @classmethod
    def last_days(cls, days: int, now: datetime | None = None, tz: ZoneInfo | str | None = None) -> Period:
        """The ``days`` whole local days before today (in ``tz``), e.g. the last 30 days."""
        tzinfo = tz if isinstance(tz, ZoneInfo) else zone(tz)
        today = (now or datetime.now(UTC)).astimezone(tzinfo).date()
        return cls(today - timedelta(days=days), today, tzinfo)

    @classmethod
    def containing(cls, kind: str, day: date, tz: ZoneInfo | str | None = None) -> Period:
        """``kind`` day, week or month: the period of that kind holding ``day``."""
        makers = {"day": cls.day, "week": cls.iso_week, "month": cls.month}
        if kind not in makers:
            raise PeriodError("Choose a period of day, week or month.", {"period": "Use day, week or month."})
        return makers[kind](day, tz)

    # ----------------------------------------------------------------- derived values

    @property
    def zone_name(self) -> str:
        return self.tz.key  # type: ignore[union-attr]

    @property
    def days(self) -> int:
        """Calendar dates in ``[start_date, end_date)``."""
        return (self.end_date - self.start_date).days

    @property
    def hours(self) -> float:
        """Real hours between the two local midnights (743 or 745 for a month holding a DST change)."""
        return (self.end - self.start).total_seconds() / 3600

    def contains(self, at: datetime | None) -> bool:
        return at is not None and self.start <= at < self.end

    def previous(self) -> Period:
        """The period of the same number of days just before this one."""
        return Period(self.start_date - timedelta(days=self.days), self.start_date, self.tz)

    def as_dict(self) -> dict:
        """The ``period`` object of the reports: dates, zone, UTC instants (ISO 8601 with Z), days, hours."""
        return {
            "from": self.start_date.isoformat(),
            "to": self.end_date.isoformat(),
            "tz": self.zone_name,
            "start": iso(self.start),
            "end": iso(self.end),
            "days": self.days,
            "hours": self.hours,
        }


def iso(value: datetime | None) -> str | None:
    """An instant as ISO 8601 UTC with a Z (sub-second precision kept), or None."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
