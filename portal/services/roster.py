"""The roster: shifts, away status, time off and the on-call rotation (admin-editable), and who is on shift now."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal.extensions import db
from portal.models import OnCall, Role, Shift, ShiftRegion, StaffStatus, TimeOff, User, utcnow
from portal.models.paging import OnCallLevel
from portal.models.roster import DEFAULT_SHIFTS, ShiftWindow
from portal.services import audit, routing
from portal.services.errors import NotFound, ValidationFailed

ROSTER_ROLES = (Role.agent, Role.senior_agent, Role.manager)
HHMM_RE = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


@dataclass
class RegionRow:
    region: ShiftRegion
    window: ShiftWindow | None
    on_shift: bool
    people: list[tuple[User, int, str]] = field(default_factory=list)  # user, open load, availability label


def roster_now(now: datetime | None = None) -> list[RegionRow]:
    """Each region with its people, their open load and availability, and whether its shift covers ``now``."""
    now = now or utcnow()
    windows = {w.region: w for w in routing.shift_windows()}
    on_shift = set(routing.regions_on_shift(now, list(windows.values())))
    staff = list(
        db.session.scalars(
            select(User)
            .where(User.role.in_(ROSTER_ROLES), User.is_active_account.is_(True))
            .order_by(User.role, User.name)
        )
    )
    loads = routing.open_loads([u.id for u in staff])
    away = set(db.session.scalars(select(StaffStatus.user_id).where(StaffStatus.is_away.is_(True))))
    off = set(db.session.scalars(select(TimeOff.user_id).where(TimeOff.starts_at <= now, TimeOff.ends_at > now)))
    on_call = {u.id for u in routing.on_call_now(now)}
    rows = [RegionRow(r, windows.get(r), r in on_shift) for r in ShiftRegion]
    by_region = {row.region: row for row in rows}
    for user in staff:
        label = "away" if user.id in away else "time off" if user.id in off else "available"
        if user.id in on_call:
            label += " · on call"
        region = user.shift_region or ShiftRegion.flexible
        by_region[region].people.append((user, loads.get(user.id, 0), label))
    return rows


def _minutes(value: str, name: str, errors: dict[str, str]) -> int:
    match = HHMM_RE.match((value or "").strip())
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        errors[name] = "Use HH:MM (00:00–24:00)."
        return 0
    return int(match.group(1)) * 60 + int(match.group(2))


def save_shift(region: str, start: str, end: str) -> Shift:
    """Set a region's shift (UTC). A shift may wrap midnight (start after end)."""
    errors: dict[str, str] = {}
    try:
        region_obj = ShiftRegion(region)
    except ValueError:
        region_obj = None
    if region_obj not in DEFAULT_SHIFTS:
        errors["region"] = "Choose APAC, EMEA or AMER."
    start_m, end_m = _minutes(start, "start", errors), _minutes(end, "end", errors)
    if not errors and start_m == end_m:
        errors["end"] = "A shift cannot be empty."
    if errors:
        raise ValidationFailed("The shift was not saved.", errors)
    shift = db.session.scalar(select(Shift).where(Shift.region == region_obj)) or Shift(region=region_obj)
    before = {"shift": shift.label} if shift.id is not None else {}
    shift.start_minute, shift.end_minute = start_m, end_m
    db.session.add(shift)
    db.session.flush()
    old, new = audit.changes(before, {"shift": shift.label})
    if new:
        audit.record("settings.roster", target=shift, target_label=region_obj.value, before=old or None, after=new)
    return shift


def staff_member(user_id) -> User:
    try:
        user = db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        user = None
    if user is None or user.role not in ROSTER_ROLES:
        raise NotFound("No such staff member.")
    return user


def set_away(user: User, away: bool, now: datetime | None = None) -> StaffStatus:
    status = db.session.get(StaffStatus, user.id) or StaffStatus(user_id=user.id)
    was_away = bool(status.is_away)
    status.is_away = bool(away)
    status.away_since = (now or utcnow()) if away else None
    db.session.add(status)
    db.session.flush()
    if was_away != status.is_away:
        audit.record(
            "settings.roster", target=user, before={"away": was_away}, after={"away": status.is_away}, detail="status"
        )
    return status


def parse_local(value: str, zone_name: str, name: str, errors: dict[str, str]) -> datetime | None:
    """A ``datetime-local`` value in the editor's zone → a UTC instant."""
    try:
        local = datetime.fromisoformat((value or "").strip())
        if local.tzinfo is not None:
            raise ValueError
        return local.replace(tzinfo=ZoneInfo(zone_name or "UTC")).astimezone(UTC)
    except ValueError:
        errors[name] = "Enter a date and time, e.g. 2026-04-01T09:00."
        return None


def _period(user_id, starts: str, ends: str, zone: str) -> tuple[User, datetime, datetime]:
    errors: dict[str, str] = {}
    try:
        user = staff_member(user_id)
    except NotFound:
        user = None
        errors["user_id"] = "Choose a staff member."
    start = parse_local(starts, zone, "starts_at", errors)
    end = parse_local(ends, zone, "ends_at", errors)
    if start and end and end <= start:
        errors["ends_at"] = "The end must be after the start."
    if errors:
        raise ValidationFailed("Not saved.", errors)
    return user, start, end


def add_time_off(user_id, starts: str, ends: str, note: str = "", *, zone: str = "UTC") -> TimeOff:
    user, start, end = _period(user_id, starts, ends, zone)
    entry = TimeOff(user_id=user.id, starts_at=start, ends_at=end, note=(note or "").strip()[:200])
    db.session.add(entry)
    db.session.flush()
    audit.record("settings.roster", target=entry, target_label=user.email, after=_entry_state(entry), detail="added")
    return entry


def add_on_call(user_id, starts: str, ends: str, *, zone: str = "UTC", level: str = "primary") -> OnCall:
    """A rotation entry; ``level`` (primary, secondary) is the order the hotline pages in (services/paging)."""
    if level not in ("primary", "secondary"):
        raise ValidationFailed("Not saved.", {"level": "Choose primary or secondary."})
    user, start, end = _period(user_id, starts, ends, zone)
    entry = OnCall(user_id=user.id, starts_at=start, ends_at=end, level=OnCallLevel(level))
    db.session.add(entry)
    db.session.flush()
    audit.record("settings.roster", target=entry, target_label=user.email, after=_entry_state(entry), detail="added")
    return entry


def delete_entry(model, entry_id: int) -> None:
    entry = db.session.get(model, entry_id)
    if entry is None:
        raise NotFound("No such entry.")
    audit.record(
        "settings.roster", target=entry, target_label=entry.user.email, before=_entry_state(entry), detail="removed"
    )
    db.session.delete(entry)
    db.session.flush()


def _entry_state(entry) -> dict:
    """A time-off or on-call entry as the audit log records it."""
    state = {"user": entry.user_id, "starts_at": entry.starts_at, "ends_at": entry.ends_at}
    if isinstance(entry, TimeOff):
        state["note"] = entry.note
    return state


def upcoming(model, now: datetime | None = None, limit: int = 50) -> list:
    now = now or utcnow()
    return list(db.session.scalars(select(model).where(model.ends_at > now).order_by(model.starts_at).limit(limit)))


def seed_roster(now: datetime | None = None) -> int:
    """Demo: the default shifts as rows and a week of on-call rotation over the senior agents (idempotent)."""
    added = 0
    for region, (start, end) in DEFAULT_SHIFTS.items():
        if db.session.scalar(select(Shift.id).where(Shift.region == region)) is None:
            db.session.add(Shift(region=region, start_minute=start, end_minute=end))
            added += 1
    if db.session.scalar(select(OnCall.id).limit(1)) is None:
        seniors = list(db.session.scalars(select(User).where(User.role == Role.senior_agent).order_by(User.id)))
        day = (now or utcnow()).replace(hour=0, minute=0, second=0, microsecond=0)
        for i in range(7 if seniors else 0):
            db.session.add(
                OnCall(
                    user_id=seniors[i % len(seniors)].id,
                    starts_at=day + timedelta(days=i),
                    ends_at=day + timedelta(days=i + 1),
                )
            )
            added += 1
    db.session.flush()
    return added
