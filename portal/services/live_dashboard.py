"""The managers' live dashboard: how the desk stands *now* — open tickets by priority and tier, targets at risk,
breaches since local midnight, unassigned tickets, who is on shift with their open load, and today's satisfaction.

Every figure is one or two GROUP BY or COUNT statements over the open tickets, written so that SQLite and PostgreSQL
answer them from the partial indexes declared on ``Ticket`` (the open-status IN list is rendered with literals, as
``portal.services.queries`` does for the queue counts):

- queue depth and unassigned per tier: ``ix_tickets_open_id`` (id, assignee_id, tier over open tickets) covers it;
- open by priority × tier: the same partial index, the priority read from the row;
- at risk now: ``ix_tickets_open_fr_risk`` / ``ix_tickets_open_res_risk`` (the at-risk instants of ticking clocks);
- breached today: recorded breaches by ``ix_tickets_fr_decided_at`` / ``ix_tickets_res_decided_at`` (a breach is
  the decision instant of a breached target), plus the running clocks that passed their due instant since midnight
  before the sweep recorded it (judged by ``portal.services.sla.decision``, the rule every page uses);
- today's CSAT: ``ix_csat_surveys_rated_at``.

"Today" is the viewer's calendar day: from local midnight in their zone (a ``Period`` of one day) to now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, func, literal_column, select
from sqlalchemy.orm import aliased

from portal.extensions import db
from portal.models import (
    OPEN_STATUSES,
    Calendar,
    CsatSurvey,
    Priority,
    Role,
    SlaPolicy,
    SlaTargetName,
    Ticket,
    Tier,
    User,
    format_reference,
    utcnow,
)
from portal.models.tickets import OPEN_FR_RUNNING_SQL, OPEN_RES_RUNNING_SQL
from portal.services import handover, routing, sla

PRIORITIES = tuple(p.value for p in Priority)
TIERS = tuple(t.value for t in Tier)
TARGETS = ("first_response", "resolution")
TARGET_LABELS = {"first_response": "First response", "resolution": "Resolution"}
AT_RISK_SHOWN = 10  # the soonest-due at-risk tickets listed (the count covers them all)
ON_SHIFT_ROLES = (Role.agent, Role.senior_agent)
MINOR_TIERS = ("L2", "manager", "engineering")  # the tiers above L1: a small share of the open tickets
REMAINDER_PRIORITY = "medium"  # the most common priority: its cells above L1 are worked out by subtraction
_RUNNING = {"first_response": OPEN_FR_RUNNING_SQL, "resolution": OPEN_RES_RUNNING_SQL}


@dataclass(frozen=True)
class AtRiskRow:
    ticket_id: int
    subject: str
    priority: str
    target: str
    due: datetime
    assignee: str | None

    @property
    def reference(self) -> str:
        return format_reference(self.ticket_id)


@dataclass(frozen=True)
class OnShift:
    user_id: int
    name: str
    role: Role
    region: str | None
    load: int
    on_call: bool = False


@dataclass
class Dashboard:
    now: datetime
    zone: ZoneInfo
    day_start: datetime  # local midnight of today, as a UTC instant
    day: date
    open_matrix: dict[str, dict[str, int]]  # priority → tier → open tickets
    unassigned_by_tier: dict[str, int]
    at_risk_count: int
    at_risk_by_target: dict[str, int]
    at_risk: list[AtRiskRow]
    breached_today: dict[str, dict[str, int]]  # priority at the breach → target → breaches since midnight
    shift: str | None  # the shift that covers now ("EMEA"), None when no shift does
    shift_start: datetime | None
    on_shift: list[OnShift] = field(default_factory=list)
    csat_responses: int = 0
    csat_average: float | None = None

    @property
    def open_by_priority(self) -> dict[str, int]:
        return {p: sum(row.values()) for p, row in self.open_matrix.items()}

    @property
    def open_by_tier(self) -> dict[str, int]:
        return {t: sum(self.open_matrix[p][t] for p in PRIORITIES) for t in TIERS}

    @property
    def open_total(self) -> int:
        return sum(self.open_by_priority.values())

    @property
    def unassigned(self) -> int:
        return sum(self.unassigned_by_tier.values())

    @property
    def breached_today_total(self) -> int:
        return sum(sum(row.values()) for row in self.breached_today.values())

    @property
    def breached_today_by_target(self) -> dict[str, int]:
        return {t: sum(self.breached_today[p][t] for p in PRIORITIES) for t in TARGETS}


def local_midnight(now: datetime, zone: ZoneInfo) -> tuple[date, datetime]:
    """Today's date in ``zone`` and the UTC instant its local midnight began."""
    today = now.astimezone(zone).date()
    return today, datetime.combine(today, time(0), tzinfo=zone).astimezone(UTC)


# --------------------------------------------------------------------------- open tickets


def _open(entity=Ticket):
    """The open statuses as literals (see ``queries.is_open``), for ``entity`` (``Ticket`` or an alias of it)."""
    values = [s.value for s in OPEN_STATUSES]
    return entity.status.in_(bindparam("open_statuses", values, expanding=True, literal_execute=True, unique=True))


def _unindexed_id(entity=Ticket):
    """``id + 0``: the id as a value, so a join or an IN on it probes the other side instead of reading table rows
    by primary key (each count below then stays inside covering indexes)."""
    return entity.id + literal_column("0")


def open_matrix() -> dict[str, dict[str, int]]:
    """Open tickets by priority and tier (every cell present, zeros included).

    No index holds both columns, and reading a table row per open ticket is what makes a GROUP BY over both slow on
    a large desk; so the matrix is put together from covering-index counts: the open tickets per priority
    (``ix_tickets_priority_status_id``) and per tier above L1 (``ix_tickets_tier_status_id``), the priority × tier
    cells above L1 (the ids of those tiers, materialized, joined to the priority index), and the rest by subtraction
    (L1 = the priority's total minus its other tiers; ``REMAINDER_PRIORITY`` = the tier's total minus the others)."""
    stmt = _statements()
    matrix = {p: dict.fromkeys(TIERS, 0) for p in PRIORITIES}
    by_priority = dict.fromkeys(PRIORITIES, 0) | {
        Priority(p).value: n for p, n in db.session.execute(stmt["open_by_priority"])
    }
    by_tier = dict.fromkeys(MINOR_TIERS, 0) | {
        Tier(t).value: n for t, n in db.session.execute(stmt["open_upper_tiers"])
    }
    for priority, tier, n in db.session.execute(stmt["open_upper_cells"]):
        matrix[Priority(priority).value][Tier(tier).value] = n
    others = [p for p in PRIORITIES if p != REMAINDER_PRIORITY]
    for tier in MINOR_TIERS:
        matrix[REMAINDER_PRIORITY][tier] = by_tier[tier] - sum(matrix[p][tier] for p in others)
    for priority in PRIORITIES:
        matrix[priority][Tier.l1.value] = by_priority[priority] - sum(matrix[priority][t] for t in MINOR_TIERS)
    return matrix


def unassigned_by_tier() -> dict[str, int]:
    """Open tickets without an assignee, per tier: their total (``ix_tickets_assignee_status_id`` covers it), those
    of the tiers above L1 (their covering tier index, probing the unassigned ids), L1 by subtraction."""
    stmt = _statements()
    total = db.session.scalar(stmt["unassigned"]) or 0
    found = dict.fromkeys(TIERS, 0)
    for tier, n in db.session.execute(stmt["unassigned_upper_tiers"]):
        found[Tier(tier).value] = n
    found[Tier.l1.value] = total - sum(found[t] for t in MINOR_TIERS)
    return found


# --------------------------------------------------------------------------- the running clocks

# What ``portal.services.sla.target_state`` and ``decision`` read of a ticket, loaded for candidates only.
_CLOCK_COLUMNS = (
    Ticket.id,
    Ticket.status,
    Ticket.priority,
    Ticket.organization_id,
    Ticket.paused_since,
    Ticket.first_response_due,
    Ticket.first_response_risk_at,
    Ticket.first_response_achieved_at,
    Ticket.first_response_breached_at,
    Ticket.first_response_breach_priority,
    Ticket.resolution_due,
    Ticket.resolution_risk_at,
    Ticket.resolution_achieved_at,
    Ticket.resolution_breached_at,
    Ticket.resolution_breach_priority,
)


@dataclass(frozen=True)
class Clocks:
    """A ticket's SLA columns as plain values (``sla.target_state`` and ``sla.decision`` read these attributes)."""

    id: int
    status: object
    priority: object
    organization_id: int | None
    paused_since: datetime | None
    first_response_due: datetime | None
    first_response_risk_at: datetime | None
    first_response_achieved_at: datetime | None
    first_response_breached_at: datetime | None
    first_response_breach_priority: str | None
    resolution_due: datetime | None
    resolution_risk_at: datetime | None
    resolution_achieved_at: datetime | None
    resolution_breached_at: datetime | None
    resolution_breach_priority: str | None


def calendars_in_use() -> bool:
    """Whether an SLA policy counts working hours (a business calendar): only then can a clock past its due instant
    still be short of its limit (no working time since), so that every clock past its due instant has to be judged
    one by one."""
    return bool(db.session.scalar(_statements()["calendars"]))


def _clocks(ids: set[int]) -> list[Clocks]:
    found: list[Clocks] = []
    ordered = sorted(ids)
    for start in range(0, len(ordered), 500):
        rows = db.session.execute(_statements()["clocks"], {"ids": ordered[start : start + 500]})
        found.extend(Clocks(*row) for row in rows)
    return found


def _candidates(names: tuple[str, ...], **params) -> set[int]:
    stmt = _statements()
    return {ticket_id for name in names for ticket_id in db.session.scalars(stmt[name], params)}


# --------------------------------------------------------------------------- at risk now


def at_risk_candidates(now: datetime, calendars: bool) -> set[int]:
    """Open tickets that may have a target at risk now; every ticket with one is among them.

    A target at risk ticks, has reached its at-risk instant and not its due instant. Either no ticking clock of the
    ticket is past its due instant — then the ticket's next due instant is still ahead: a running clock's at-risk
    index (``ix_tickets_open_fr_risk`` / ``_res_risk``) probed against the tickets due from now
    (``ix_tickets_open_due``), index entries only — or another ticking clock is past due while this one is not; two
    clocks tick only while the first response is unanswered: the open tickets without a first response
    (``ix_tickets_open_fr_risk``), usually few."""
    overdue = "overdue_first_calendars" if calendars else "overdue_first"
    return _candidates(("first_ahead", "resolution_ahead", overdue), now=now)


def _at_risk_now(clock: Clocks, target: str, now: datetime, calendars: bool) -> bool:
    due = getattr(clock, f"{target}_due")
    if due is None or (due < now and not calendars):
        return False
    return sla.target_state(clock, SlaTargetName(target), now) == "at_risk"


def at_risk(now: datetime, shown: int = AT_RISK_SHOWN) -> tuple[int, dict[str, int], list[AtRiskRow]]:
    """(tickets with a target at risk, targets at risk per target, the ``shown`` soonest-due of them), judged by
    ``sla.target_state`` — the state the ticket pages and the queue badge show."""
    calendars = calendars_in_use()
    found: list[tuple[datetime, int, str]] = []
    for clock in _clocks(at_risk_candidates(now, calendars)):
        for target in TARGETS:
            if _at_risk_now(clock, target, now, calendars):
                found.append((getattr(clock, f"{target}_due"), clock.id, target))
    by_target = {target: sum(1 for *_rest, t in found if t == target) for target in TARGETS}
    found.sort()
    first: dict[int, tuple[datetime, str]] = {}
    for due, ticket_id, target in found:
        first.setdefault(ticket_id, (due, target))
    soonest = list(first.items())[:shown]
    details = {}
    if soonest:
        rows = db.session.execute(_statements()["details"], {"ids": [ticket_id for ticket_id, _ in soonest]})
        details = {ticket_id: (subject, priority, assignee) for ticket_id, subject, priority, assignee in rows}
    listed = [
        AtRiskRow(
            ticket_id, details[ticket_id][0], Priority(details[ticket_id][1]).value, target, due, details[ticket_id][2]
        )
        for ticket_id, (due, target) in soonest
        if ticket_id in details
    ]
    return len(first), by_target, listed


# --------------------------------------------------------------------------- breached today


def breached_since(start: datetime, end: datetime, now: datetime) -> dict[str, dict[str, int]]:
    """Breached targets whose breach instant lies in ``[start, end)`` as of ``now``, by the priority in force at the
    breach and by target (all four priorities, zeros included) — the day's ``sla_violations`` so far: the breaches
    the sweep recorded (their decision instant, indexed) and the running clocks that passed their due instant in
    the window before the sweep recorded it (breached at that instant, judged by ``sla.decision``)."""
    table = {p: dict.fromkeys(TARGETS, 0) for p in PRIORITIES}
    for target in TARGETS:
        for value, n in db.session.execute(_statements()[f"recorded_{target}"], {"start": start, "end": end}):
            key = value.value if isinstance(value, Priority) else str(value)
            table.setdefault(key, dict.fromkeys(TARGETS, 0))[target] += n
    upper = min(end, now)
    if upper > start:
        for clock in _clocks(unrecorded_candidates(start, upper)):
            for target in TARGETS:
                verdict = sla.decision(clock, target, now) if _due_in(clock, target, start, upper) else None
                if verdict is not None and verdict[0] == "breached" and start <= verdict[1] < upper:
                    key = verdict[2] or Priority(clock.priority).value
                    table.setdefault(key, dict.fromkeys(TARGETS, 0))[target] += 1
    return table


def _due_in(clock: Clocks, target: str, start: datetime, upper: datetime) -> bool:
    """A clock not decided yet (neither breach nor achievement recorded) whose due instant lies in the window."""
    due = getattr(clock, f"{target}_due")
    undecided = getattr(clock, f"{target}_breached_at") is None and getattr(clock, f"{target}_achieved_at") is None
    return undecided and due is not None and start <= due < upper


def unrecorded_candidates(start: datetime, upper: datetime) -> set[int]:
    """Open tickets with a ticking clock whose due instant lies in ``[start, upper)``; every unrecorded breach of
    the window is among them. The earliest ticking clock due in the window puts the ticket's next due instant there
    (``ix_tickets_open_due``); one due in it behind another ticking clock due before the window means two clocks
    tick, so the first response is still unanswered (``ix_tickets_open_fr_risk``)."""
    return _candidates(("due_in_window", "due_behind_first"), start=start, upper=upper)


# --------------------------------------------------------------------------- people and satisfaction


def on_shift(now: datetime) -> tuple[str | None, datetime | None, list[OnShift]]:
    """The shift covering ``now`` (its region and start) and the agents and senior agents on it who are available,
    plus whoever is on call, each with their open load."""
    current = handover.current_shift(now)
    regions = routing.regions_on_shift(now)
    people: list[User] = []
    for role in ON_SHIFT_ROLES:
        people.extend(routing.on_shift_staff(role, now, regions))
    on_call = routing.on_call_now(now)
    seen = {u.id for u in people}
    people.extend(u for u in on_call if u.id not in seen)
    loads = routing.open_loads([u.id for u in people])
    calling = {u.id for u in on_call}
    rows = [
        OnShift(
            u.id,
            u.name,
            Role(u.role),
            u.shift_region.value if u.shift_region else None,
            loads.get(u.id, 0),
            u.id in calling,
        )
        for u in people
    ]
    rows.sort(
        key=lambda r: (ON_SHIFT_ROLES.index(r.role) if r.role in ON_SHIFT_ROLES else 9, r.name.lower(), r.user_id)
    )
    if current is None:
        return None, None, rows
    incoming, start, _outgoing = current
    return incoming.region.value, start, rows


def csat_since(start: datetime, end: datetime) -> tuple[int, float | None]:
    """(ratings given in ``[start, end)``, their mean) — one indexed aggregate on ``rated_at``."""
    count, average = db.session.execute(_statements()["csat"], {"start": start, "end": end}).one()
    return int(count or 0), (float(average) if count else None)


# --------------------------------------------------------------------------- the whole dashboard


def dashboard(zone: ZoneInfo, now: datetime | None = None) -> Dashboard:
    """Every figure of the live dashboard as of ``now`` (default: the current instant), "today" in ``zone``."""
    now = now or utcnow()
    day, day_start = local_midnight(now, zone)
    day_end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    risk_count, risk_by_target, risk_rows = at_risk(now)
    shift, shift_start, people = on_shift(now)
    responses, average = csat_since(day_start, day_end)
    return Dashboard(
        now=now,
        zone=zone,
        day_start=day_start,
        day=day,
        open_matrix=open_matrix(),
        unassigned_by_tier=unassigned_by_tier(),
        at_risk_count=risk_count,
        at_risk_by_target=risk_by_target,
        at_risk=risk_rows,
        breached_today=breached_since(day_start, day_end, now),
        shift=shift,
        shift_start=shift_start,
        on_shift=people,
        csat_responses=responses,
        csat_average=average,
    )


# --------------------------------------------------------------------------- the statements, built once


@cache
def _statements() -> dict[str, Select]:
    """Every statement of the board, built once per process (building one costs about as much as running it);
    instants and ids are bound at execution (``now``, ``start``, ``end``, ``upper``, ``ids``)."""
    now, start, end, upper = (bindparam(name) for name in ("now", "start", "end", "upper"))
    ids = bindparam("ids", expanding=True)
    minor = [Tier(t) for t in MINOR_TIERS]
    upper_tiers = select(Ticket.id, Ticket.tier).where(Ticket.tier.in_(minor), _open()).cte("upper_tiers")
    upper_tiers = upper_tiers.prefix_with("MATERIALIZED")
    unassigned, upcoming = aliased(Ticket), aliased(Ticket)
    ahead = select(upcoming.id).where(_open(upcoming), upcoming.next_due_at >= now)
    first = select(Ticket.id).where(OPEN_FR_RUNNING_SQL, Ticket.first_response_risk_at <= now)
    resolution = select(Ticket.id).where(OPEN_RES_RUNNING_SQL, Ticket.resolution_risk_at <= now)
    overdue_first = first.where(Ticket.next_due_at < now)
    statements = {
        "open_by_priority": select(Ticket.priority, func.count())
        .where(Ticket.priority.in_(list(Priority)), _open())
        .group_by(Ticket.priority),
        "open_upper_tiers": select(Ticket.tier, func.count())
        .where(Ticket.tier.in_(minor), _open())
        .group_by(Ticket.tier),
        "open_upper_cells": select(Ticket.priority, upper_tiers.c.tier, func.count())
        .join(upper_tiers, upper_tiers.c.id == _unindexed_id())
        .where(Ticket.priority.in_([Priority(p) for p in PRIORITIES if p != REMAINDER_PRIORITY]), _open())
        .group_by(Ticket.priority, upper_tiers.c.tier),
        "unassigned": select(func.count()).select_from(Ticket).where(Ticket.assignee_id.is_(None), _open()),
        "unassigned_upper_tiers": select(Ticket.tier, func.count())
        .where(
            Ticket.tier.in_(minor),
            _open(),
            _unindexed_id().in_(select(unassigned.id).where(unassigned.assignee_id.is_(None), _open(unassigned))),
        )
        .group_by(Ticket.tier),
        "calendars": select(func.count())
        .select_from(SlaPolicy)
        .join(Calendar, Calendar.id == SlaPolicy.calendar_id)
        .where(Calendar.always_open.is_(False)),
        "clocks": select(*_CLOCK_COLUMNS).where(Ticket.id.in_(ids)),
        "details": select(Ticket.id, Ticket.subject, Ticket.priority, User.name)
        .outerjoin(User, User.id == Ticket.assignee_id)
        .where(Ticket.id.in_(ids)),
        "first_ahead": first.where(_unindexed_id().in_(ahead)),
        "resolution_ahead": resolution.where(_unindexed_id().in_(ahead)),
        # past its due instant a 24/7 clock has breached: keep the tickets with a clock still ahead
        "overdue_first": overdue_first.where(
            (Ticket.first_response_due >= now)
            | (Ticket.paused_since.is_(None) & (Ticket.resolution_risk_at <= now) & (Ticket.resolution_due >= now))
        ),
        "overdue_first_calendars": overdue_first,
        "due_in_window": select(Ticket.id).where(_open(), Ticket.next_due_at >= start, Ticket.next_due_at < upper),
        "due_behind_first": select(Ticket.id).where(
            OPEN_FR_RUNNING_SQL,
            Ticket.first_response_risk_at < upper,
            Ticket.next_due_at < start,
            ((Ticket.first_response_due >= start) & (Ticket.first_response_due < upper))
            | ((Ticket.resolution_due >= start) & (Ticket.resolution_due < upper)),
        ),
        "csat": select(func.count(CsatSurvey.rating), func.avg(CsatSurvey.rating)).where(
            CsatSurvey.rated_at >= start, CsatSurvey.rated_at < end, CsatSurvey.rating.is_not(None)
        ),
    }
    for target in TARGETS:
        decided = getattr(Ticket, f"{target}_decided_at")
        priority = func.coalesce(getattr(Ticket, f"{target}_breach_priority"), Ticket.priority)
        statements[f"recorded_{target}"] = (
            select(priority, func.count())
            .where(decided >= start, decided < end, getattr(Ticket, f"{target}_breached_at").is_not(None))
            .group_by(priority)
        )
    return statements
