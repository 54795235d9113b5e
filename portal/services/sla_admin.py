"""Administration of SLA policies and business-hours calendars.

The policy without an organization is the default; an organization may have its own (an override). A policy is read
when a ticket's clock starts (creation) or is re-targeted (a priority change), so saving one changes the due times of
tickets created or re-targeted afterwards and never rewrites the clocks of existing tickets; its pause statuses apply
from a ticket's next status change. Without any row the built-in defaults of ``portal.models.sla`` apply, and without
a calendar the clock runs 24/7.

Every function validates plain form data (strings), raises ``ValidationFailed`` with one message per field, flushes
and never commits.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from zoneinfo import available_timezones

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Calendar, Holiday, Organization, Priority, Role, SlaPolicy, Status, User
from portal.models.sla import DEFAULT_AT_RISK_PERCENT, DEFAULT_PAUSE_STATUSES, DEFAULT_TARGETS
from portal.params import parse_id, parse_int
from portal.services import audit
from portal.services.errors import Forbidden, NotFound, ValidationFailed
from portal.services.sla import WEEKDAYS

log = logging.getLogger(__name__)

ADMINISTRATORS = frozenset({Role.admin, Role.manager})
PAUSABLE_STATUSES = (Status.pending, Status.on_hold, Status.solved)  # closed always stops the clock
MAX_TARGET_MINUTES = 365 * 24 * 60
WEEKDAY_LABELS = dict(
    zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"), strict=True)
)
INTERVAL_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*$")


def _require_administrator(actor: User) -> None:
    if actor.role not in ADMINISTRATORS:
        raise Forbidden("Only managers and admins change SLA policies and calendars.")


# --------------------------------------------------------------------------- policies: reading


@dataclass
class PolicyRow:
    policy: SlaPolicy
    organization_name: str


def default_policy() -> SlaPolicy | None:
    """The default policy row (the oldest one without an organization), or None when the built-in defaults apply."""
    return db.session.scalars(
        select(SlaPolicy).where(SlaPolicy.organization_id.is_(None)).order_by(SlaPolicy.id).limit(1)
    ).first()


def organization_policies() -> list[PolicyRow]:
    rows = db.session.execute(
        select(SlaPolicy, Organization.name)
        .join(Organization, Organization.id == SlaPolicy.organization_id)
        .order_by(func.lower(Organization.name))
    ).all()
    return [PolicyRow(policy, name) for policy, name in rows]


def organizations_without_policy() -> list:
    """(id, name) rows of the organizations that may still get an override."""
    taken = select(SlaPolicy.organization_id).where(SlaPolicy.organization_id.is_not(None))
    return list(
        db.session.execute(
            select(Organization.id, Organization.name)
            .where(Organization.id.not_in(taken))
            .order_by(func.lower(Organization.name))
        )
    )


def get_policy(policy_id: int) -> SlaPolicy:
    policy = db.session.get(SlaPolicy, policy_id)
    if policy is None:
        raise NotFound("No such SLA policy.")
    return policy


def organization_of(policy: SlaPolicy | None) -> Organization | None:
    if policy is None or policy.organization_id is None:
        return None
    return db.session.get(Organization, policy.organization_id)


def targets_of(policy: SlaPolicy | None) -> dict[Priority, tuple[int, int]]:
    """(first response, resolution) minutes per priority; the built-in defaults without a row."""
    if policy is None:
        return dict(DEFAULT_TARGETS)
    return {p: (policy.minutes(p, "first_response"), policy.minutes(p, "resolution")) for p in Priority}


def format_hours(minutes: int) -> str:
    """Minutes as hours for the form: 240 → "4", 90 → "1.5"."""
    return f"{minutes / 60:.4f}".rstrip("0").rstrip(".")


def policy_form_values(policy: SlaPolicy | None) -> dict:
    """A policy's (or the built-in defaults') values as the policy form shows them."""
    values: dict = {
        "name": policy.name if policy else "Default",
        "at_risk_percent": str(policy.at_risk_percent if policy else DEFAULT_AT_RISK_PERCENT),
        "pause_statuses": list(policy.pause_statuses if policy else DEFAULT_PAUSE_STATUSES),
        "calendar_id": str(policy.calendar_id or "") if policy else "",
    }
    for priority, (first, resolution) in targets_of(policy).items():
        values[f"{priority.value}_first_response"] = str(first)
        values[f"{priority.value}_resolution"] = format_hours(resolution)
    return values


# --------------------------------------------------------------------------- policies: changing


def save_default_policy(actor: User, data: Mapping[str, object]) -> SlaPolicy:
    """Create or update the default policy (applies to every organization without its own)."""
    _require_administrator(actor)
    policy = default_policy()
    values = _validated_policy(data, default_name="Default")
    if policy is None:
        policy = SlaPolicy(organization_id=None)
        db.session.add(policy)
    return _apply(actor, policy, values)


def create_organization_policy(actor: User, organization_id: object, data: Mapping[str, object]) -> SlaPolicy:
    """Give an organization its own policy (one per organization)."""
    _require_administrator(actor)
    errors: dict[str, str] = {}
    organization = _organization(organization_id, errors)
    try:
        values = _validated_policy(data, default_name=organization.name if organization else "")
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, {**errors, **exc.fields}) from None
    if errors:
        raise ValidationFailed("The policy was not saved.", errors)
    policy = SlaPolicy(organization_id=organization.id)
    db.session.add(policy)
    return _apply(actor, policy, values)


def update_policy(actor: User, policy: SlaPolicy, data: Mapping[str, object]) -> SlaPolicy:
    _require_administrator(actor)
    values = _validated_policy(data, default_name=policy.name)
    return _apply(actor, policy, values)


def delete_organization_policy(actor: User, policy: SlaPolicy) -> None:
    """Remove an organization's override: its tickets created afterwards follow the default policy."""
    _require_administrator(actor)
    if policy.organization_id is None:
        raise ValidationFailed(
            "The default policy cannot be deleted; edit its targets instead.",
            {"policy": "The default policy cannot be deleted."},
        )
    log.info("%s deleted SLA policy %s of organization %s", actor.email, policy.id, policy.organization_id)
    audit.record(
        "settings.sla",
        target=policy,
        before={"organization_id": policy.organization_id, **policy_form_values(policy)},
        detail="organization policy deleted",
        actor=actor,
    )
    db.session.delete(policy)
    db.session.flush()


def _organization(value: object, errors: dict[str, str]) -> Organization | None:
    number = _small_int(value)
    organization = db.session.get(Organization, number) if number is not None else None
    if organization is None:
        errors["organization_id"] = "Choose an organization from the list."
        return None
    if db.session.scalar(select(SlaPolicy.id).where(SlaPolicy.organization_id == organization.id)) is not None:
        errors["organization_id"] = f"{organization.name} already has its own policy; edit that one."
        return None
    return organization


def _validated_policy(data: Mapping[str, object], *, default_name: str) -> dict:
    """Check every field and return clean values; nothing is changed before all of them are valid."""
    errors: dict[str, str] = {}
    values: dict = {"name": " ".join(str(data.get("name") or "").split())[:100] or default_name or "Policy"}
    for priority in Priority:
        first = _first_response_minutes(data.get(f"{priority.value}_first_response"), priority, errors)
        resolution = _resolution_minutes(data.get(f"{priority.value}_resolution"), priority, errors)
        if first and resolution and first > resolution:
            errors[f"{priority.value}_resolution"] = (
                f"{priority.label}: the resolution target must not be shorter "
                f"than the first response target ({first} minutes)."
            )
        values[f"{priority.value}_first_response"] = first
        values[f"{priority.value}_resolution"] = resolution
    values["at_risk_percent"] = _percent(data.get("at_risk_percent"), errors)
    values["pause_statuses"] = _pause_statuses(data.get("pause_statuses") or [], errors)
    values["calendar_id"] = _calendar_id(data.get("calendar_id"), errors)
    if errors:
        raise ValidationFailed("The policy was not saved.", errors)
    return values


def _first_response_minutes(value: object, priority: Priority, errors: dict[str, str]) -> int | None:
    minutes = parse_int(str(value or ""), min=1, max=MAX_TARGET_MINUTES)  # ASCII digits ("²".isdigit() is true)
    if minutes is None:
        errors[f"{priority.value}_first_response"] = (
            f"{priority.label}: enter the first response target as a whole "
            f"number of minutes greater than 0 (at most a year)."
        )
        return None
    return minutes


def _resolution_minutes(value: object, priority: Priority, errors: dict[str, str]) -> int | None:
    name = f"{priority.value}_resolution"
    try:
        hours = Decimal(str(value or "").strip().replace(",", "."))
    except InvalidOperation:
        hours = None
    if hours is None or not hours.is_finite() or hours <= 0 or hours * 60 > MAX_TARGET_MINUTES:
        errors[name] = f"{priority.label}: enter the resolution target in hours, greater than 0 (e.g. 8 or 1.5)."
        return None
    minutes = hours * 60
    if minutes != minutes.to_integral_value():
        errors[name] = f"{priority.label}: the resolution target must be a whole number of minutes (e.g. 1.5 hours)."
        return None
    return int(minutes)


def _percent(value: object, errors: dict[str, str]) -> int | None:
    percent = parse_int(str(value or ""), min=1, max=99)
    if percent is None:
        errors["at_risk_percent"] = "Enter a whole number from 1 to 99."
        return None
    return percent


def _pause_statuses(values: Iterable[object], errors: dict[str, str]) -> list[str]:
    chosen = [str(v) for v in values]
    allowed = [s.value for s in PAUSABLE_STATUSES]
    unknown = [v for v in chosen if v not in allowed]
    if unknown:
        errors["pause_statuses"] = (
            f"Unknown status {', '.join(unknown[:3])!s}: choose from {', '.join(s.label for s in PAUSABLE_STATUSES)}."
        )
    return [s for s in allowed if s in chosen]


def _calendar_id(value: object, errors: dict[str, str]) -> int | None:
    text = str(value or "").strip()
    if not text:
        return None
    number = _small_int(text)
    if number is None or db.session.get(Calendar, number) is None:
        errors["calendar_id"] = "Choose a calendar from the list (or 24/7)."
        return None
    return number


def _small_int(value: object) -> int | None:
    """A positive id from a form, or None (non-digits and numbers too large for an id column alike)."""
    return parse_id(str(value or ""))


def _apply(actor: User, policy: SlaPolicy, values: dict) -> SlaPolicy:
    created = policy.id is None
    before = {name: getattr(policy, name) for name in values}
    for name, value in values.items():
        setattr(policy, name, value)
    db.session.flush()
    old, new = ({}, values) if created else audit.changes(before, values)
    if new:
        scope = (
            "default policy" if policy.organization_id is None else f"policy of organization {policy.organization_id}"
        )
        detail = f"{scope} {'created' if created else 'changed'}"
        audit.record("settings.sla", target=policy, before=old or None, after=new, detail=detail, actor=actor)
    log.info("%s saved SLA policy %s (organization %s)", actor.email, policy.id, policy.organization_id)
    return policy


# --------------------------------------------------------------------------- calendars


def list_calendars() -> list[Calendar]:
    return list(db.session.scalars(select(Calendar).order_by(func.lower(Calendar.name))))


def get_calendar(calendar_id: int) -> Calendar:
    calendar = db.session.get(Calendar, calendar_id)
    if calendar is None:
        raise NotFound("No such calendar.")
    return calendar


def calendar_form_values(calendar: Calendar | None) -> dict:
    """A calendar as its form shows it: one "09:00-17:00, 18:00-20:00" line per weekday, one holiday per line."""
    if calendar is None:
        return {
            "name": "",
            "timezone": "UTC",
            "always_open": False,
            "holidays": "",
            **{day: ("09:00-17:00" if day not in ("sat", "sun") else "") for day in WEEKDAYS},
        }
    hours = calendar.weekly_hours or {}
    return {
        "name": calendar.name,
        "timezone": calendar.timezone,
        "always_open": calendar.always_open,
        "holidays": "\n".join(f"{h.day.isoformat()} {h.name}".strip() for h in calendar.holidays),
        **{day: ", ".join(f"{a}-{b}" for a, b in hours.get(day, [])) for day in WEEKDAYS},
    }


def save_calendar(actor: User, calendar: Calendar | None, data: Mapping[str, object]) -> Calendar:
    """Create (``calendar`` None) or update a business-hours calendar with its weekly hours and holidays."""
    _require_administrator(actor)
    errors: dict[str, str] = {}
    name = _calendar_name(data.get("name"), calendar, errors)
    zone = str(data.get("timezone") or "").strip()
    if zone not in _zones():
        errors["timezone"] = "Choose a time zone from the list, e.g. Europe/London."
    always_open = str(data.get("always_open") or "") in ("1", "on", "true", "y")
    weekly = {day: _intervals(data.get(day), day, errors) for day in WEEKDAYS}
    weekly = {day: spans for day, spans in weekly.items() if spans}
    if not always_open and not weekly and not any(day in errors for day in WEEKDAYS):
        errors["mon"] = "Enter working hours for at least one day (or mark the calendar as open 24/7)."
    holidays = _holidays(str(data.get("holidays") or ""), errors)
    if errors:
        raise ValidationFailed("The calendar was not saved.", errors)
    before = _calendar_state(calendar) if calendar is not None else None
    if calendar is None:
        calendar = Calendar()
        db.session.add(calendar)
    calendar.name, calendar.timezone, calendar.always_open, calendar.weekly_hours = name, zone, always_open, weekly
    _replace_holidays(calendar, holidays)
    db.session.flush()
    old, new = audit.changes(before or {}, _calendar_state(calendar))
    if new:
        detail = f"calendar {'created' if before is None else 'changed'}"
        audit.record(
            "settings.sla", target=calendar, before=old if before else None, after=new, detail=detail, actor=actor
        )
    log.info("%s saved calendar %s (%s)", actor.email, calendar.id, calendar.name)
    return calendar


def _calendar_state(calendar: Calendar) -> dict:
    """A calendar as the audit log records it: name, zone, 24/7 flag, weekly hours and holidays (day → name)."""
    return {
        "name": calendar.name,
        "timezone": calendar.timezone,
        "always_open": calendar.always_open,
        "weekly_hours": dict(calendar.weekly_hours or {}),
        "holidays": {h.day.isoformat(): h.name for h in sorted(calendar.holidays, key=lambda h: h.day)},
    }


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def timezone_choices() -> list[str]:
    return sorted(_zones())


def _calendar_name(value: object, calendar: Calendar | None, errors: dict[str, str]) -> str:
    name = " ".join(str(value or "").split())
    if not name:
        errors["name"] = "This field is required."
    elif len(name) > 100:
        errors["name"] = "Use at most 100 characters."
    else:
        query = select(Calendar.id).where(func.lower(Calendar.name) == name.lower())
        if calendar is not None:
            query = query.where(Calendar.id != calendar.id)
        if db.session.scalar(query.limit(1)) is not None:
            errors["name"] = "Another calendar already has this name."
    return name


def _intervals(value: object, day: str, errors: dict[str, str]) -> list[list[str]]:
    """ "09:00-12:00, 13:00-17:00" → [["09:00", "12:00"], ["13:00", "17:00"]]; empty means closed all day."""
    spans: list[tuple[int, int]] = []
    for part in [p for p in re.split(r"[,;]", str(value or "")) if p.strip()]:
        match = INTERVAL_RE.match(part)
        opens = _minute(match.group(1), match.group(2)) if match else None
        closes = _minute(match.group(3), match.group(4)) if match else None
        if opens is None or closes is None or opens >= 1440:
            errors[day] = f"{WEEKDAY_LABELS[day]}: write hours as HH:MM-HH:MM, e.g. 09:00-17:00 (24:00 ends the day)."
            return []
        if closes <= opens:
            errors[day] = f"{WEEKDAY_LABELS[day]}: {part.strip()} closes before it opens."
            return []
        spans.append((opens, closes))
    spans.sort()
    if any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)):
        errors[day] = f"{WEEKDAY_LABELS[day]}: the intervals overlap."
        return []
    return [[_hhmm(a), _hhmm(b)] for a, b in spans]


def _minute(hours: str, minutes: str) -> int | None:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m):
        return None
    return h * 60 + m


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _holidays(text: str, errors: dict[str, str]) -> dict[date, str]:
    """One holiday per line: "2026-12-25 Christmas Day" (the name is optional)."""
    result: dict[date, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        day_text, _, name = line.partition(" ")
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            errors["holidays"] = f"Line {number}: start with a date as YYYY-MM-DD, e.g. 2026-12-25 Christmas Day."
            return {}
        if day in result:
            errors["holidays"] = f"Line {number}: {day.isoformat()} is listed twice."
            return {}
        result[day] = name.strip()[:100]
    return result


def _replace_holidays(calendar: Calendar, holidays: dict[date, str]) -> None:
    """Update in place (kept days keep their rows, so the unique day per calendar is never violated mid-flush)."""
    existing = {h.day: h for h in calendar.holidays}
    for day, holiday in existing.items():
        if day not in holidays:
            calendar.holidays.remove(holiday)
        else:
            holiday.name = holidays[day]
    for day, name in sorted(holidays.items()):
        if day not in existing:
            calendar.holidays.append(Holiday(day=day, name=name))
