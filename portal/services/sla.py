"""SLA clocks on tickets: the policy that applies, the history the clock engine reads, the facts it derives written
to the ticket's columns, the at-risk and breach facts recorded once each (with their logical instants), and what the
pages and the API show.

``portal.services.sla_engine.evaluate`` is the one place the rules live; this module feeds it a ticket's history and
stores its answer: after every change (``on_ticket_changed``), in the sweep (``refresh`` for the tickets whose next
threshold has passed), in the history import and in the demo seed. Every function takes ``now`` (a timezone-aware
UTC instant) so tests, the sweep and the import control the clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from flask import g, has_app_context
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import contains_eager

from portal.extensions import db
from portal.models import (
    STAFF_ROLES,
    EventKind,
    Priority,
    SlaCheck,
    SlaEvent,
    SlaEventKind,
    SlaPolicy,
    SlaTargetName,
    Status,
    Ticket,
    TicketEvent,
    User,
    utcnow,
)
from portal.models.sla import DEFAULT_AT_RISK_PERCENT, DEFAULT_PAUSE_STATUSES, DEFAULT_TARGETS, Calendar
from portal.services import outbox
from portal.services import sla_engine as engine
from portal.services.changes import TicketChange
from portal.services.webhooks import events as webhook_events

FR, RES = SlaTargetName.first_response, SlaTargetName.resolution
AT_RISK, BREACHED, MET = SlaEventKind.at_risk, SlaEventKind.breached, SlaEventKind.met
WEEKDAYS = engine.WEEKDAYS
SWEEP_BATCH = 500
CLOSED_STATUSES = (Status.solved, Status.closed)


# --------------------------------------------------------------------------- policies and calendars

DEFAULT_POLICY = engine.Policy(
    targets={p.value: DEFAULT_TARGETS[p] for p in Priority},
    at_risk_percent=DEFAULT_AT_RISK_PERCENT,
    pause_statuses=frozenset(DEFAULT_PAUSE_STATUSES),
)


def work_calendar(calendar: Calendar | None) -> engine.WorkCalendar | None:
    """The engine's view of a calendar row (None: 24/7)."""
    if calendar is None or calendar.always_open:
        return None
    return engine.WorkCalendar(
        timezone=calendar.timezone,
        weekly_hours=dict(calendar.weekly_hours or {}),
        holidays=frozenset(h.day for h in calendar.holidays),
    )


def policy_for(organization_id: int | None, cache: dict | None = None) -> engine.Policy:
    """The organization's own policy, else the default policy row, else the built-in defaults."""
    if cache is not None and organization_id in cache:
        return cache[organization_id]
    rows = db.session.scalars(
        select(SlaPolicy).where((SlaPolicy.organization_id == organization_id) | SlaPolicy.organization_id.is_(None))
    ).all()
    row = next((r for r in rows if r.organization_id is not None), None) or next(iter(rows), None)
    policy = _policy(row)
    if cache is not None:
        cache[organization_id] = policy
    return policy


def preload_policies(organization_ids: Iterable[int | None], cache: dict) -> None:
    """``policy_for`` of many organizations in one query, into ``cache`` (what a batch then passes to it)."""
    wanted = {i for i in organization_ids if i not in cache}
    if not wanted:
        return
    ids = sorted(i for i in wanted if i is not None)
    rows = db.session.scalars(
        select(SlaPolicy).where(SlaPolicy.organization_id.in_(ids) | SlaPolicy.organization_id.is_(None))
    ).all()
    default = next((r for r in rows if r.organization_id is None), None)
    own: dict[int, SlaPolicy] = {}
    for row in rows:
        if row.organization_id is not None:
            own.setdefault(row.organization_id, row)
    for organization_id in wanted:
        cache[organization_id] = _policy(own.get(organization_id, default))


def _policy(row: SlaPolicy | None) -> engine.Policy:
    return (
        DEFAULT_POLICY
        if row is None
        else engine.Policy(
            targets={p.value: (row.minutes(p, FR), row.minutes(p, RES)) for p in Priority},
            at_risk_percent=row.at_risk_percent,
            pause_statuses=frozenset(s for s in row.pause_statuses if s in Status._value2member_map_),
            calendar=work_calendar(row.calendar),
        )
    )


def add_working_time(calendar: Calendar | None, start: datetime, minutes: float) -> datetime:
    """``start`` plus ``minutes`` of working time under a calendar row (24/7 without one)."""
    return engine.add_working(work_calendar(calendar), start, timedelta(minutes=minutes))


# --------------------------------------------------------------------------- a ticket's history, for the engine


@dataclass(frozen=True)
class History:
    """What the engine reads of a ticket: its priority at creation and its clock-relevant steps in order."""

    initial_priority: str | None
    steps: list[engine.Step]


def histories(ticket_ids: Iterable[int]) -> dict[int, History]:
    """The histories of several tickets in one query (ordered by instant, then by id: the order events apply in)."""
    ids = sorted(set(ticket_ids))
    result: dict[int, History] = {i: History(None, []) for i in ids}
    if not ids:
        return result
    rows = db.session.execute(
        select(
            TicketEvent.ticket_id,
            TicketEvent.kind,
            TicketEvent.field,
            TicketEvent.old_value,
            TicketEvent.new_value,
            TicketEvent.created_at,
            User.role,
        )
        .outerjoin(User, User.id == TicketEvent.author_id)
        .where(
            TicketEvent.ticket_id.in_(ids),
            or_(
                TicketEvent.kind == EventKind.public_reply,
                and_(TicketEvent.kind == EventKind.field_change, TicketEvent.field.in_(("status", "priority"))),
            ),
        )
        .order_by(TicketEvent.ticket_id, TicketEvent.created_at, TicketEvent.id)
    ).all()
    initial: dict[int, str] = {}
    for ticket_id, kind, field, old, new, at, role in rows:
        steps = result[ticket_id].steps
        if kind is EventKind.public_reply:
            if role in STAFF_ROLES:
                steps.append(engine.Step(at, "staff_reply"))
        else:
            if field == "priority" and ticket_id not in initial and old:
                initial[ticket_id] = old
            steps.append(engine.Step(at, field, new))
    return {i: History(initial.get(i), h.steps) for i, h in result.items()}


def evaluate(
    ticket: Ticket, now: datetime, history: History | None = None, policy: engine.Policy | None = None
) -> engine.Facts:
    """The engine's facts for ``ticket`` as of ``now``."""
    history = history if history is not None else histories([ticket.id])[ticket.id]
    policy = policy or policy_for(ticket.organization_id)
    priority = history.initial_priority or Priority(ticket.priority).value
    return engine.evaluate(ticket.created_at, priority, history.steps, policy, now)


# --------------------------------------------------------------------------- storing the facts


def refresh(
    ticket: Ticket,
    now: datetime,
    *,
    notify: bool = True,
    history: History | None = None,
    policy: engine.Policy | None = None,
    recorded: set | None = None,
) -> list[tuple[SlaTargetName, SlaEventKind]]:
    """Evaluate ``ticket`` as of ``now``, write the facts to its columns and record the at-risk and breach facts not
    yet recorded (each once, at its logical instant). Returns the newly recorded crossings; with ``notify`` the
    assignee and managers are told through the outbox (a breach always; an at-risk only while that clock still runs)."""
    facts = evaluate(ticket, now, history, policy)
    recorded = recorded if recorded is not None else recorded_events(ticket.id)
    crossed = []
    for crossing in settle(ticket, facts, recorded):
        db.session.add(SlaEvent(ticket_id=ticket.id, **crossing._asdict()))
        crossed.append((crossing.target, crossing.kind))
    if notify:
        for target, kind in crossed:
            if notify_due(facts, target, kind):
                notify_crossing(ticket, target, kind)
    return crossed


# The ticket columns the clock writes (``store``): a bulk writer of them (the sweep's batches, the benchmark
# generator) names them from here. ``settle`` also writes ``Ticket.sla_check_at``, which is a row of ``sla_checks``
# (a bulk writer writes that table too).
CLOCK_COLUMNS = (
    "first_response_due",
    "first_response_risk_at",
    "resolution_due",
    "resolution_risk_at",
    "paused_since",
    "paused_seconds",
    "next_due_at",
    "first_response_achieved_at",
    "first_response_breached_at",
    "first_response_breach_priority",
    "first_response_decided_at",
    "resolution_achieved_at",
    "resolution_breached_at",
    "resolution_breach_priority",
    "resolution_decided_at",
)


class Crossing(NamedTuple):
    """An at-risk or breach fact to record (an ``SlaEvent`` of the ticket)."""

    target: SlaTargetName
    kind: SlaEventKind
    at: datetime
    due_at: datetime | None


def settle(ticket: Ticket, facts: engine.Facts, recorded: set[tuple[SlaTargetName, SlaEventKind]]) -> list[Crossing]:
    """``refresh`` without the session: write ``facts`` to the ticket's columns (``ticket`` may be any object with
    them, e.g. the set-based sweep's rows) and return the crossings not yet in ``recorded`` (added to it), in order;
    ``sla_check_at`` becomes the next threshold still to record."""
    store(ticket, facts)
    crossed = []
    for target, fact in ((FR, facts.first_response), (RES, facts.resolution)):
        for kind, at in ((AT_RISK, fact.risk_reached_at), (BREACHED, fact.breached_at)):
            if at is not None and (target, kind) not in recorded:
                recorded.add((target, kind))
                crossed.append(Crossing(target, kind, at, fact.due))
    # The sweep looks again at the next threshold not yet recorded on a ticking clock.
    checks = [
        instant
        for target, fact in ((FR, facts.first_response), (RES, facts.resolution))
        if fact.ticking
        for kind, instant in ((AT_RISK, fact.risk_at), (BREACHED, fact.due))
        if instant is not None and (target, kind) not in recorded
    ]
    ticket.sla_check_at = min(checks, default=None)
    return crossed


def notify_due(facts: engine.Facts, target: SlaTargetName, kind: SlaEventKind) -> bool:
    """Whether a change's look at the clock tells people of a crossing it recorded: a breach always, an at-risk only
    while that clock still runs."""
    return kind is BREACHED or facts[target.value].state == "at_risk"


def store(ticket: Ticket, facts: engine.Facts) -> None:
    """Write the engine's facts to the ticket's columns (what queues sort by and pages read without a query)."""
    fr, res = facts.first_response, facts.resolution
    # The at-risk instants only for clocks that tick (the at-risk view and counts read them through partial indexes).
    ticket.first_response_due, ticket.first_response_risk_at = fr.due, fr.risk_at if fr.ticking else None
    ticket.resolution_due, ticket.resolution_risk_at = res.due, res.risk_at if res.ticking else None
    ticket.paused_since = res.paused_since
    ticket.paused_seconds = int(res.paused.total_seconds())
    for name, fact in (("first_response", fr), ("resolution", res)):
        # A breach is a fact: one already stored stays, whatever a later look (another policy, a clock behind) says.
        breached = getattr(ticket, f"{name}_breached_at")
        if breached is None:
            breached = fact.breached_at
            setattr(ticket, f"{name}_breached_at", breached)
            setattr(ticket, f"{name}_breach_priority", fact.breach_priority)
        setattr(ticket, f"{name}_achieved_at", fact.achieved_at)
        setattr(ticket, f"{name}_decided_at", breached or fact.achieved_at)
    ticking = [f for f in facts if f.ticking and f.due is not None]
    ticket.next_due_at = min((f.due for f in ticking), default=None)


def recorded_events(ticket_id: int) -> set[tuple[SlaTargetName, SlaEventKind]]:
    pending = {(e.target, e.kind) for e in db.session.new if isinstance(e, SlaEvent) and e.ticket_id == ticket_id}
    rows = db.session.execute(select(SlaEvent.target, SlaEvent.kind).where(SlaEvent.ticket_id == ticket_id)).all()
    return pending | {(r[0], r[1]) for r in rows}


def notify_crossing(ticket: Ticket, target: SlaTargetName, kind: SlaEventKind) -> None:
    """Tell the assignee and the managers (through the outbox) that ``target`` went at risk or was breached."""
    name = "notify.sla_at_risk" if kind is AT_RISK else "notify.sla_breach"
    due = ticket.first_response_due if target is FR else ticket.resolution_due
    outbox.emit(
        name,
        {"ticket_id": ticket.id, "target": target.value, "due_at": iso(due)},
        dedupe_key=f"sla:{ticket.id}:{target.value}:{name}",
    )
    webhook_events.sla_crossed(ticket, target.value, kind.value, due)  # outgoing webhooks (if subscribed)


def iso(value: datetime | None) -> str | None:
    """An instant as ISO 8601 UTC with a Z (sub-second precision kept), or None."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- reading the facts back


def _columns(ticket, target: SlaTargetName):
    if target is FR:
        return (
            ticket.first_response_due,
            ticket.first_response_risk_at,
            ticket.first_response_achieved_at,
            ticket.first_response_breached_at,
        )
    return (
        ticket.resolution_due,
        ticket.resolution_risk_at,
        ticket.resolution_achieved_at,
        ticket.resolution_breached_at,
    )


def _ticking(ticket, target: SlaTargetName, achieved: datetime | None) -> bool:
    if achieved is not None:
        return False
    return target is FR or (ticket.paused_since is None and ticket.status not in CLOSED_STATUSES)


def _ran_past(ticket, due: datetime | None, now: datetime) -> bool:
    """A ticking clock past its due instant has breached once working time has passed since (24/7: any time)."""
    if due is None or now <= due:
        return False
    cache = g.setdefault("_sla_policies", {}) if has_app_context() else None
    calendar = policy_for(getattr(ticket, "organization_id", None), cache).calendar
    return calendar is None or engine.working(calendar, due, now) > timedelta(0)


def target_state(ticket, target: SlaTargetName, now: datetime) -> str:
    """ok, at_risk, paused, met or breached — the engine's state as of ``now`` from the stored facts (a ticking clock
    that ran past its due instant is breached even before the sweep records it)."""
    due, risk, achieved, breached = _columns(ticket, target)
    if breached is not None:
        return "breached"
    if achieved is not None:
        return "met"
    if not _ticking(ticket, target, achieved):
        return "paused"
    if _ran_past(ticket, due, now):
        return "breached"
    return "at_risk" if risk is not None and now >= risk else "ok"


def decision(ticket, target: SlaTargetName | str, now: datetime) -> tuple[str, datetime, str | None] | None:
    """(verdict, decision instant, priority at a breach) of a decided target as of ``now``; None while it runs."""
    target = SlaTargetName(target)
    due, _risk, achieved, breached = _columns(ticket, target)
    if breached is not None:
        priority = ticket.first_response_breach_priority if target is FR else ticket.resolution_breach_priority
        return "breached", breached, priority
    if achieved is not None:
        return "met", achieved, None
    if _ticking(ticket, target, achieved) and _ran_past(ticket, due, now):
        return "breached", due, Priority(ticket.priority).value
    return None


def ticket_facts(ticket, now: datetime | None = None) -> dict[str, dict]:
    """Per target: its state, due instant, achievement and breach instants (datetimes) — what the pages show."""
    now = now or utcnow()
    result = {}
    for target in (FR, RES):
        due, _risk, achieved, breached = _columns(ticket, target)
        state = target_state(ticket, target, now)
        if breached is None and state == "breached":
            breached = due  # ran past its due instant; the sweep records it at that instant
        result[target.value] = {"state": state, "due": due, "achieved_at": achieved, "breached_at": breached}
    return result


def ticket_sla(ticket, now: datetime | None = None) -> dict[str, dict[str, str | None]]:
    """The API's ``sla`` object: ``ticket_facts`` with ISO 8601 UTC instants."""
    return {
        target: {key: iso(value) if key != "state" else value for key, value in facts.items()}
        for target, facts in ticket_facts(ticket, now).items()
    }


# --------------------------------------------------------------------------- what the UI and the API show


def sla_status(ticket: Ticket, now: datetime | None = None) -> dict[str, str]:
    """For each target: ok, at_risk, paused, met or breached. Reads only the ticket's own columns, so a queue page
    costs no extra query."""
    now = now or utcnow()
    return {FR.value: target_state(ticket, FR, now), RES.value: target_state(ticket, RES, now)}


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
    now = now or utcnow()
    # Only the clocks still to be achieved speak for the row: a first response made (late or not) is history.
    states = {t.value: target_state(ticket, t, now) for t in (FR, RES) if _columns(ticket, t)[2] is None}
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
    """The SLA step of ``effects.ticket_changed``: the change's own timestamp is the clock. A breach that happened
    since the last look (between two sweeps) is recorded now, at its logical instant."""
    ticket = change.ticket
    if change.kind == "created":
        # a ticket filed a moment ago has no clock steps yet (no replies, no status or priority changes) and no
        # recorded crossings: the two queries that would read them are skipped (filing is a hot path: mail, API)
        refresh(ticket, ticket.updated_at or utcnow(), history=History(None, []), recorded=set())
        return
    refresh(ticket, ticket.updated_at or utcnow())


def due_tickets_query(now: datetime, limit: int = SWEEP_BATCH, *columns):
    """The sweep's indexed query (``ix_sla_checks_check_at``): tickets with a threshold passed before ``now`` (a
    clock breaches once it runs past its due instant, so a threshold equal to ``now`` is not due yet), earliest
    first. With ``columns``, those instead of the tickets as objects (which come with their check loaded)."""
    stmt = select(*columns) if columns else select(Ticket).options(contains_eager(Ticket.sla_check))
    return (
        stmt.select_from(Ticket)
        .join(SlaCheck, SlaCheck.ticket_id == Ticket.id)
        .where(SlaCheck.check_at < now)
        .order_by(SlaCheck.check_at, SlaCheck.ticket_id)
        .limit(limit)
    )
