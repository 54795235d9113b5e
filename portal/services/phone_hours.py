"""The support phone lines, their business hours and whether a line is open, told in the viewer's time zone.

Each regional line keeps the business hours (``PHONE_HOURS`` on ``PHONE_DAYS``) of its own zone
(``PHONE_LINE_ZONES``): the US line opens at 08:00 in New York whatever the caller's zone. The answer is computed on
the server from one instant, so a page and a test with a controlled clock agree; the opening and closing instants
are built as wall times of the line's zone (zoneinfo resolves DST), then shown in the viewer's zone."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def parse_pairs(value: str | Mapping[str, str] | None) -> dict[str, str]:
    """A ``"KEY=value, KEY=value"`` setting (or a mapping already) as an ordered dict."""
    if isinstance(value, Mapping):
        return {str(k).strip(): str(v).strip() for k, v in value.items()}
    pairs: dict[str, str] = {}
    for part in (value or "").split(","):
        key, sep, val = part.partition("=")
        if sep and key.strip() and val.strip():
            pairs[key.strip()] = val.strip()
    return pairs


DEFAULT_HOURS = (time(8), time(18))


def parse_hours(value: str) -> tuple[time, time]:
    """``"08:00-18:00"`` as (opens, closes); a line closes after it opens on the same day. A setting that is not
    that shape is logged and the guide's 8am–6pm kept, so a typo does not take every page down."""
    try:
        start, end = (time.fromisoformat(part.strip()) for part in str(value).split("-", 1))
    except ValueError:
        start = end = None
    if start is None or end is None or end <= start:
        log.warning("PHONE_HOURS %r is not like 08:00-18:00; using 08:00-18:00", value)
        return DEFAULT_HOURS
    return start, end


def parse_days(value: str) -> frozenset[int]:
    """``"mon,tue,..."`` as weekday numbers (Monday 0)."""
    days = {WEEKDAYS.index(d.strip().lower()[:3]) for d in value.split(",") if d.strip().lower()[:3] in WEEKDAYS}
    return frozenset(days)


@dataclass(frozen=True)
class Hours:
    zone: ZoneInfo
    opens: time
    closes: time
    days: frozenset[int]

    def _at(self, day: date, wall: time) -> datetime:
        return datetime.combine(day, wall, tzinfo=self.zone)

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.zone)
        return local.weekday() in self.days and self.opens <= local.time() < self.closes

    def closes_at(self, now: datetime) -> datetime:
        """The end of the current opening (only meaningful while open)."""
        return self._at(now.astimezone(self.zone).date(), self.closes)

    def next_opening(self, now: datetime) -> datetime | None:
        """The next instant the line opens after ``now`` (None when it opens on no day at all)."""
        if not self.days:
            return None
        day = now.astimezone(self.zone).date()
        for offset in range(8):
            candidate_day = day + timedelta(days=offset)
            if candidate_day.weekday() in self.days:
                candidate = self._at(candidate_day, self.opens)
                if candidate > now:
                    return candidate
        return None


@dataclass(frozen=True)
class LineStatus:
    is_open: bool
    text: str  # "Open now (closes at 18:00 your time)" / "Closed — opens Monday at 08:00 your time"
    at: datetime | None  # the closing or opening instant (UTC), for a machine-readable <time>


def when_label(instant: datetime, now: datetime, viewer: ZoneInfo) -> str:
    """``"at 18:00"``, ``"tomorrow at 02:00"`` or ``"Monday at 08:00"``, in the viewer's zone."""
    local = instant.astimezone(viewer)
    today = now.astimezone(viewer).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return f"at {clock}"
    if local.date() == today + timedelta(days=1):
        return f"tomorrow at {clock}"
    if local.date() < today + timedelta(days=7):
        return f"{_DAY_NAMES[local.weekday()]} at {clock}"
    return f"{local.strftime('%d %b')} at {clock}"


def line_status(hours: Hours, now: datetime, viewer: ZoneInfo) -> LineStatus:
    if hours.is_open(now):
        closes = hours.closes_at(now)
        return LineStatus(True, f"Open now (closes {when_label(closes, now, viewer)} your time)", closes)
    opens = hours.next_opening(now)
    if opens is None:
        return LineStatus(False, "Closed", None)
    return LineStatus(False, f"Closed — opens {when_label(opens, now, viewer)} your time", opens)


def hours_description(opens: time, closes: time, days: frozenset[int]) -> str:
    """``"Business hours: 8am–6pm local time, Monday to Friday"`` from the settings."""

    def clock(t: time) -> str:
        hour = t.hour % 12 or 12
        suffix = "am" if t.hour < 12 else "pm"
        minutes = f":{t.minute:02d}" if t.minute else ""
        return f"{hour}{minutes}{suffix}"

    ordered = sorted(days)
    if ordered and ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 2:
        span = f"{_DAY_NAMES[ordered[0]]} to {_DAY_NAMES[ordered[-1]]}"
    else:
        span = ", ".join(_DAY_NAMES[d] for d in ordered) or "no days"
    return f"Business hours: {clock(opens)}–{clock(closes)} local time, {span}"


def zone_or_none(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except Exception:  # an unknown zone in a setting or a profile must not break a page
        return None


def viewer_line(config: Mapping, *, org_region: str | None, zone_name: str | None) -> str | None:
    """The line that is the viewer's: by the organization's region, else guessed from the time zone name, else
    None (UTC, Etc/..., an unknown zone: no guess)."""
    lines = parse_pairs(config["PHONE_LINES"])
    if org_region:
        line = parse_pairs(config["PHONE_REGION_LINES"]).get(org_region.strip())
        if line in lines:
            return line
    for prefix, line in parse_pairs(config["PHONE_REGION_ZONES"]).items():
        if zone_name and zone_name.startswith(prefix) and line in lines:
            return line
    return None
