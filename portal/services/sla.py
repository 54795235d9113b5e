"""SLA clocks: due times on creation, pause and resume on status changes, re-targeting on a priority
change, first response met by the first public staff reply, and the periodic sweep that records at-risk and breach
events once each and tells people through the outbox.

Every function takes ``now`` (a timezone-aware UTC instant) so tests and the sweep control the clock. The ticket's
own columns hold the clock; ``SlaEvent`` rows are facts that are never recomputed away.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    OPEN_STATUSES,
    Priority,
    SlaEvent,
    SlaEventKind,
    SlaPolicy,
    SlaTargetName,
    Status,
    Ticket,
    utcnow,
)
from portal.models.sla import DEFAULT_AT_RISK_PERCENT, DEFAULT_PAUSE_STATUSES, DEFAULT_TARGETS, Calendar
from portal.services import outbox
from portal.services.changes import TicketChange

FR, RES = SlaTargetName.first_response, SlaTargetName.resolution
AT_RISK, BREACHED, MET = SlaEventKind.at_risk, SlaEventKind.breached, SlaEventKind.met
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SWEEP_BATCH = 500


# --------------------------------------------------------------------------- policies and calendars


@dataclass(frozen=True)
class EffectivePolicy:
    """The policy that applies to a ticket, with the built-in defaults when none is configured."""

    targets: dict[Priority, tuple[int, int]]
    at_risk_percent: int = DEFAULT_AT_RISK_PERCENT
    pause_statuses: frozenset[Status] = frozenset(Status(s) for s in DEFAULT_PAUSE_STATUSES)
    calendar: Calendar | None = None

    def minutes(self, priority: Priority, target: SlaTargetName) -> int:
        first, resolution = self.targets[priority]
        return first if target is FR else resolution


DEFAULT_POLICY = EffectivePolicy(targets=dict(DEFAULT_TARGETS))


def policy_for(organization_id: int | None, cache: dict | None = None) -> EffectivePolicy:
    """The organization's own policy, else the default policy row, else the built-in defaults."""
    if cache is not None and organization_id in cache:
        return cache[organization_id]
    rows = db.session.scalars(
        select(SlaPolicy).where((SlaPolicy.organization_id == organization_id) | SlaPolicy.organization_id.is_(None))
    ).all()
    row = next((r for r in rows if r.organization_id is not None), None) or next(iter(rows), None)
    policy = (
        DEFAULT_POLICY
        if row is None
        else EffectivePolicy(
            targets={p: (row.minutes(p, FR), row.minutes(p, RES)) for p in Priority},
            at_risk_percent=row.at_risk_percent,
            pause_statuses=frozenset(Status(s) for s in row.pause_statuses if s in Status._value2member_map_),
            calendar=row.calendar if row.calendar is not None and not row.calendar.always_open else None,
        )
    )
    if cache is not None:
        cache[organization_id] = policy
    return policy


def add_working_time(calendar: Calendar | None, start: datetime, minutes: float) -> datetime:
    """``start`` plus ``minutes`` of working time. 24/7 without a calendar; otherwise only inside the calendar's
    weekly hours (local wall-clock times in its zone, so DST changes are honoured) and outside its holidays."""
    if calendar is None or calendar.always_open:
        return start + timedelta(minutes=minutes)
    zone = ZoneInfo(calendar.timezone)
    holidays = {h.day for h in calendar.holidays}
    remaining = timedelta(minutes=minutes)
    day = start.astimezone(zone).date()
    for _ in range(3660):  # ten years of days at most: a calendar without hours never finishes
        for opens, closes in _intervals(calendar, day, zone, holidays):
            opens = max(opens, start)
            if closes <= opens:
                continue
            if closes - opens >= remaining:
                return opens + remaining
            remaining -= closes - opens
        day += timedelta(days=1)
    raise ValueError(f"calendar {calendar.name!r} has no working hours")


def _intervals(
    calendar: Calendar, day: date, zone: ZoneInfo, holidays: set[date]
) -> Iterable[tuple[datetime, datetime]]:
    if day in holidays:
        return []
    result = []
    for opens, closes in (calendar.weekly_hours or {}).get(WEEKDAYS[day.weekday()], []):
        start = datetime.combine(day, time.fromisoformat(opens), zone).astimezone(UTC)
        end = (
            datetime.combine(day + timedelta(days=1), time(0), zone)
            if closes in ("24:00", "24:00:00")
            else datetime.combine(day, time.fromisoformat(closes), zone)
        ).astimezone(UTC)
        result.append((start, end))
    return sorted(result)


# --------------------------------------------------------------------------- the clock on one ticket


def start_clock(ticket: Ticket, now: datetime | None = None, policy: EffectivePolicy | None = None) -> None:
    """Set the due times of a new ticket (from its creation instant)."""
    policy = policy or policy_for(ticket.organization_id)
    ticket.paused_seconds = ticket.paused_seconds or 0
    _set_targets(ticket, policy)
    if ticket.status in policy.pause_statuses:
        ticket.paused_since = ticket.paused_since or now or ticket.created_at
    _refresh(ticket, set())


def retarget(ticket: Ticket, now: datetime | None = None) -> None:
    """A priority change: recompute the targets from the creation instant (paused time still counts)."""
    _set_targets(ticket, policy_for(ticket.organization_id))
    _refresh(ticket, recorded_events(ticket.id))


def _set_targets(ticket: Ticket, policy: EffectivePolicy) -> None:
    created, pct = ticket.created_at, policy.at_risk_percent / 100
    fr, res = policy.minutes(ticket.priority, FR), policy.minutes(ticket.priority, RES)
    paused = timedelta(seconds=ticket.paused_seconds or 0)
    ticket.first_response_due = add_working_time(policy.calendar, created, fr)
    ticket.first_response_risk_at = add_working_time(policy.calendar, created, fr * pct)
    ticket.resolution_due = add_working_time(policy.calendar, created, res) + paused
    ticket.resolution_risk_at = add_working_time(policy.calendar, created, res * pct) + paused


def status_changed(ticket: Ticket, old: Status, new: Status, now: datetime) -> None:
    """Pause the resolution clock when entering a pause status; resume it (adding the paused time) when leaving."""
    policy = policy_for(ticket.organization_id)
    if ticket.resolution_due is None:
        _set_targets(ticket, policy)
    paused = new in policy.pause_statuses or new is Status.closed
    if paused and ticket.paused_since is None:
        ticket.paused_since = now
    elif not paused and ticket.paused_since is not None:
        delta = max(now - ticket.paused_since, timedelta(0))
        ticket.paused_seconds = (ticket.paused_seconds or 0) + int(delta.total_seconds())
        ticket.resolution_due += delta
        ticket.resolution_risk_at += delta
        ticket.paused_since = None
    recorded = recorded_events(ticket.id)
    if new is Status.solved and ticket.resolution_due and now <= ticket.resolution_due:
        _record(ticket, RES, MET, now, recorded)
    _refresh(ticket, recorded)


def first_response_made(ticket: Ticket, at: datetime) -> None:
    """The first public staff reply: record the first-response target as met (or breached, if the sweep missed it)."""
    if ticket.first_response_due is None:
        return
    recorded = recorded_events(ticket.id)
    if at <= ticket.first_response_due:
        _record(ticket, FR, MET, at, recorded)
    elif (FR, BREACHED) not in recorded:
        _record(ticket, FR, BREACHED, ticket.first_response_due, recorded)
        notify_crossing(ticket, FR, BREACHED)
    _refresh(ticket, recorded)


def _running(ticket: Ticket, target: SlaTargetName) -> bool:
    if ticket.status not in OPEN_STATUSES:
        return False
    if target is FR:
        return ticket.first_response_at is None and ticket.first_response_due is not None
    return ticket.paused_since is None and ticket.resolution_due is not None


def _thresholds(ticket: Ticket, target: SlaTargetName) -> tuple[datetime, datetime]:
    if target is FR:
        return ticket.first_response_risk_at, ticket.first_response_due
    return ticket.resolution_risk_at, ticket.resolution_due


def _refresh(ticket: Ticket, recorded: set[tuple[SlaTargetName, SlaEventKind]]) -> None:
    """Recompute ``next_due_at`` (queue order) and ``sla_check_at`` (the next threshold the sweep must record)."""
    dues, checks = [], []
    for target in (FR, RES):
        if not _running(ticket, target):
            continue
        risk, due = _thresholds(ticket, target)
        dues.append(due)
        if (target, AT_RISK) not in recorded:
            checks.append(risk)
        if (target, BREACHED) not in recorded:
            checks.append(due)
    ticket.next_due_at = min(dues) if dues else None
    ticket.sla_check_at = min(checks) if checks else None


def recorded_events(ticket_id: int) -> set[tuple[SlaTargetName, SlaEventKind]]:
    pending = {(e.target, e.kind) for e in db.session.new if isinstance(e, SlaEvent) and e.ticket_id == ticket_id}
    rows = db.session.execute(select(SlaEvent.target, SlaEvent.kind).where(SlaEvent.ticket_id == ticket_id)).all()
    return pending | {(r[0], r[1]) for r in rows}


def _record(
    ticket: Ticket,
    target: SlaTargetName,
    kind: SlaEventKind,
    at: datetime,
    recorded: set[tuple[SlaTargetName, SlaEventKind]],
) -> bool:
    if (target, kind) in recorded:
        return False
    recorded.add((target, kind))
    db.session.add(
        SlaEvent(ticket_id=ticket.id, target=target, kind=kind, at=at, due_at=_thresholds(ticket, target)[1])
    )
    return True


def notify_crossing(ticket: Ticket, target: SlaTargetName, kind: SlaEventKind) -> None:
    """Tell the assignee and the managers (through the outbox) that ``target`` went at risk or was breached."""
    name = "notify.sla_at_risk" if kind is AT_RISK else "notify.sla_breach"
    due = _thresholds(ticket, target)[1]
    outbox.emit(
        name,
        {
            "ticket_id": ticket.id,
            "target": target.value,
            "due_at": due.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        },
        dedupe_key=f"sla:{ticket.id}:{target.value}:{name}",
    )


# --------------------------------------------------------------------------- what the UI and the API show


def sla_status(ticket: Ticket, now: datetime | None = None) -> dict[str, str | None]:
    """For each target: ok, at_risk, breached, met or paused (None for tickets without a clock). Reads only the
    ticket's own columns, so a queue page costs no extra query."""
    now = now or utcnow()
    return {FR.value: _first_response_state(ticket, now), RES.value: _resolution_state(ticket, now)}


def _first_response_state(ticket: Ticket, now: datetime) -> str | None:
    due, risk = ticket.first_response_due, ticket.first_response_risk_at
    if due is None:
        return None
    if ticket.first_response_at is not None:
        return "met" if ticket.first_response_at <= due else "breached"
    if not ticket.is_open:
        return "met" if (ticket.solved_at or ticket.closed_at or now) <= due else "breached"
    return "breached" if now >= due else "at_risk" if now >= risk else "ok"


def _resolution_state(ticket: Ticket, now: datetime) -> str | None:
    due, risk = ticket.resolution_due, ticket.resolution_risk_at
    if due is None:
        return None
    if ticket.status in (Status.solved, Status.closed):
        return "met" if (ticket.solved_at or ticket.closed_at or now) <= due else "breached"
    if ticket.paused_since is not None:
        return "breached" if due <= ticket.paused_since else "paused"
    return "breached" if now >= due else "at_risk" if now >= risk else "ok"


def remaining(ticket: Ticket, now: datetime | None = None) -> timedelta | None:
    """Time left to the next due time (negative when overdue); None when no clock runs."""
    if ticket.next_due_at is None:
        return None
    return ticket.next_due_at - (now or utcnow())


@dataclass(frozen=True)
class Badge:
    """What the queue's SLA badge shows: the worst state of the ticket's clocks and the time to (or past) its next due
    time. ``due`` is None for a paused clock without a next due time."""

    state: str
    label: str
    remaining: str
    due: datetime | None


BADGE_LABELS = {"breached": "Overdue", "at_risk": "At risk", "paused": "Paused", "ok": "Due in"}


def badge(ticket: Ticket, now: datetime | None = None) -> Badge | None:
    """The SLA badge of a queue row (no clock running and not paused: None). Reads only the ticket's columns."""
    states = sla_status(ticket, now)
    values = states.values()
    paused = states.get(RES.value) == "paused"
    if ticket.next_due_at is None:
        return Badge("paused", BADGE_LABELS["paused"], "", None) if paused else None
    worst = "breached" if "breached" in values else "at_risk" if "at_risk" in values else "paused" if paused else "ok"
    left = format_remaining(remaining(ticket, now)).lstrip("-")
    return Badge(worst, BADGE_LABELS[worst], left, ticket.next_due_at)


def format_remaining(delta: timedelta | None) -> str:
    if delta is None:
        return "—"
    seconds = int(delta.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    text = f"{days}d {hours}h" if days else f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"
    return sign + text


# --------------------------------------------------------------------------- the effects step and the sweep's query


def on_ticket_changed(change: TicketChange) -> None:
    """The SLA step of ``effects.ticket_changed``: the change's own timestamp is the clock."""
    ticket = change.ticket
    now = ticket.updated_at or utcnow()
    if change.kind == "created":
        start_clock(ticket, now)
        return
    status, priority = change.changed("status"), change.changed("priority")
    if priority is not None:
        retarget(ticket, now)
    if status is not None:
        status_changed(ticket, Status(status.old), Status(status.new), now)
    event = change.event
    if (
        change.kind == "reply"
        and event is not None
        and change.actor is not None
        and change.actor.is_staff
        and ticket.first_response_at is not None
        and ticket.first_response_at == event.created_at
    ):
        first_response_made(ticket, ticket.first_response_at)


def due_tickets_query(now: datetime, limit: int = SWEEP_BATCH):
    """The sweep's indexed query (``ix_tickets_sla_check_at``): tickets with a threshold at or before ``now``."""
    return select(Ticket).where(Ticket.sla_check_at <= now).order_by(Ticket.sla_check_at, Ticket.id).limit(limit)


def record_crossings(ticket: Ticket, now: datetime, recorded: set) -> list[tuple[SlaTargetName, SlaEventKind]]:
    """Record the thresholds ``ticket`` has crossed by ``now``; returns them (to notify and escalate) in order."""
    crossed = []
    for target in (FR, RES):
        if not _running(ticket, target):
            continue
        risk, due = _thresholds(ticket, target)
        if now >= risk and _record(ticket, target, AT_RISK, risk, recorded):
            crossed.append((target, AT_RISK))
        if now >= due and _record(ticket, target, BREACHED, due, recorded):
            crossed.append((target, BREACHED))
    _refresh(ticket, recorded)
    return crossed
