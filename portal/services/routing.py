"""Follow-the-sun routing: who gets a ticket *now* (the shift hand-over, which uses it, is ``handover``).

1. tier from the routing rules (default L1; integration and security → L2),
2. candidates: active staff of that tier whose shift covers now, not away, not on time off; the manager tier's
   candidates are the managers, who work flexible hours (any rostered, available manager, else the on-call manager),
3. prefer a specialization matching the category, then the lowest open load, then the least recently assigned,
4. nobody on shift → the on-call person, else a manager (both only if they are in the roster, i.e. have a shift
   region, "flexible" included); the ticket is flagged and retried at the next shift start. Nobody at all →
   unassigned and flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import and_, exists, func, select

from portal.extensions import db
from portal.models import (
    EventKind,
    OnCall,
    Role,
    Shift,
    ShiftRegion,
    StaffStatus,
    Status,
    Ticket,
    TicketEvent,
    Tier,
    TimeOff,
    User,
    utcnow,
)
from portal.models.roster import DEFAULT_SHIFTS, ShiftWindow, minute_of_day
from portal.services import counters
from portal.services.changes import FieldChange, TicketChange

TIER_ROLES = {Tier.l1: Role.agent, Tier.l2: Role.senior_agent, Tier.manager: Role.manager}
DEFAULT_TIER_RULES = {"integration": "L2", "security": "L2"}


@dataclass(frozen=True)
class Decision:
    user: User | None
    source: str | None  # "shift", "tier" (the manager tier's own people), "on_call", "manager" or None (nobody)

    @property
    def settled(self) -> bool:
        """The ticket is with the people of its tier; any other outcome is retried at the next shift start."""
        return self.source in ("shift", "tier")


# --------------------------------------------------------------------------- the roster at an instant


def shift_windows() -> list[ShiftWindow]:
    """The shifts as configured by the admin, else the defaults (APAC 00–08, EMEA 08–16, AMER 16–24 UTC)."""
    rows = db.session.execute(select(Shift.region, Shift.start_minute, Shift.end_minute)).all()
    configured = {r[0]: ShiftWindow(r[0], r[1], r[2]) for r in rows}
    return [configured.get(region, ShiftWindow(region, *span)) for region, span in DEFAULT_SHIFTS.items()]


def regions_on_shift(now: datetime, windows: list[ShiftWindow] | None = None) -> list[ShiftRegion]:
    return [w.region for w in (windows or shift_windows()) if w.covers(minute_of_day(now))]


def _available(now: datetime):
    """SQL condition: the user is not marked away and has no time off covering ``now``."""
    away = exists().where(StaffStatus.user_id == User.id, StaffStatus.is_away.is_(True))
    off = exists().where(TimeOff.user_id == User.id, TimeOff.starts_at <= now, TimeOff.ends_at > now)
    return and_(User.is_active_account.is_(True), User.is_approved.is_(True), ~away, ~off)


def on_shift_staff(role: Role, now: datetime, regions: list[ShiftRegion] | None = None) -> list[User]:
    regions = regions if regions is not None else regions_on_shift(now)
    if not regions:
        return []
    return list(
        db.session.scalars(
            select(User).where(User.role == role, User.shift_region.in_(regions), _available(now)).order_by(User.id)
        )
    )


def is_available(user: User, now: datetime) -> bool:
    """On shift now (or the on-call person / a rostered manager), not away, not on time off."""
    return db.session.scalar(select(func.count(User.id)).where(User.id == user.id, _available(now))) == 1 and (
        user.shift_region in regions_on_shift(now) or user.role is Role.manager and user.shift_region is not None
    )


def open_loads(user_ids: list[int]) -> dict[int, int]:
    """Open tickets per person (0 for people without any): the maintained per-person counters
    (``portal.services.counters``), exact in the same transaction as every assignment or status change."""
    return counters.open_loads(user_ids)


def _ranking_data(user_ids: list[int]) -> tuple[dict[int, int], dict[int, datetime | None]]:
    """Open loads and last assignment instants of ``user_ids`` (the routing decision's hot path): two index lookups
    per person, whatever the number of tickets."""
    rows = db.session.execute(
        select(User.id, StaffStatus.last_assigned_at)
        .outerjoin(StaffStatus, StaffStatus.user_id == User.id)
        .where(User.id.in_(user_ids))
    ).all()
    return open_loads(user_ids), {r[0]: r[1] for r in rows}


def on_call_now(now: datetime) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .join(OnCall, OnCall.user_id == User.id)
            .where(OnCall.starts_at <= now, OnCall.ends_at > now, _available(now))
            .order_by(OnCall.starts_at.desc(), OnCall.id)
        )
    )


def _managers(now: datetime) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .where(User.role == Role.manager, User.shift_region.is_not(None), _available(now))
            .order_by(User.id)
        )
    )


# --------------------------------------------------------------------------- the decision


def tier_for(ticket: Ticket) -> Tier:
    """The tier the routing rules give the ticket's category; never lower than the ticket's own tier."""
    rules = current_app.config.get("ROUTING_TIER_RULES") or DEFAULT_TIER_RULES
    ruled = Tier(rules.get(ticket.category.slug, "L1")) if ticket.category else Tier.l1
    order = list(Tier)
    return max(ruled, ticket.tier, key=order.index)


def rank(
    candidates: list[User],
    category: str | None,
    data: tuple[dict[int, int], dict[int, datetime | None]] | None = None,
) -> list[User]:
    """Specialization match first, then the lowest open load, then the least recently assigned, then id. ``data``:
    the (open loads, last assignment instants) to rank by, for a batch that keeps them itself (else looked up)."""
    loads, last = data if data is not None else _ranking_data([u.id for u in candidates])
    never = datetime.min.replace(tzinfo=utcnow().tzinfo)
    return sorted(
        candidates,
        key=lambda u: (
            0 if category and category in (u.specializations or []) else 1,
            loads[u.id],
            last.get(u.id) or never,
            u.id,
        ),
    )


def decide(ticket: Ticket, now: datetime, *, tier: Tier | None = None, fallback: bool = True) -> Decision:
    """Who should hold ``ticket`` now. The manager tier goes to a manager (flexible hours: any rostered, available
    manager), else the on-call manager. The other tiers go to their on-shift people; with ``fallback``, nobody on
    shift → the on-call person, else a manager (the ticket is then flagged for the next shift)."""
    tier = tier or tier_for(ticket)
    return pick(candidate_pool(tier, now, fallback=fallback), ticket.category.slug if ticket.category else None)


def candidate_pool(tier: Tier, now: datetime, *, fallback: bool = True) -> tuple[list[User], str | None]:
    """``decide``'s candidates for a ticket of ``tier`` at ``now`` and the decision's source (what the ticket does
    not change: a batch looks it up once for many tickets)."""
    if tier is Tier.manager:
        managers = _managers(now) or [u for u in on_call_now(now) if u.role is Role.manager]
        return managers, "tier" if managers else None
    candidates = on_shift_staff(TIER_ROLES.get(tier, Role.manager), now)
    if candidates:
        return candidates, "shift"
    if not fallback:
        return [], None
    on_call = on_call_now(now)
    if on_call:
        return on_call[:1], "on_call"
    managers = _managers(now)
    return managers, "manager" if managers else None


def pick(
    pool: tuple[list[User], str | None],
    category: str | None,
    data: tuple[dict[int, int], dict[int, datetime | None]] | None = None,
) -> Decision:
    """The decision among a ``candidate_pool``: the best ranked (``rank``; ``data`` as there)."""
    candidates, source = pool
    if not candidates:
        return Decision(None, None)
    return Decision(candidates[0] if len(candidates) == 1 else rank(candidates, category, data)[0], source)


def choose_assignee(ticket: Ticket, now: datetime | None = None) -> User | None:
    """The person who should get ``ticket`` now (None when nobody can)."""
    return decide(ticket, now or utcnow()).user


def stamp_assignment(user: User, now: datetime) -> None:
    """Remember when ``user`` last got a ticket (the round robin's tie-break)."""
    status = db.session.get(StaffStatus, user.id)
    if status is None:
        status = StaffStatus(user_id=user.id, is_away=False)
        db.session.add(status)
    status.last_assigned_at = now


# --------------------------------------------------------------------------- the effects step


def on_ticket_changed(change: TicketChange) -> None:
    """The routing step of ``effects.ticket_changed``: tier rule and auto-assignment on creation, re-routing on
    reopening (when the assignee is not available) and after an escalation to L2 or manager; critical alerts."""
    ticket = change.ticket
    now = ticket.updated_at or utcnow()
    if change.kind == "created":
        ruled = tier_for(ticket)
        if ruled is not ticket.tier:
            change.changes.append(FieldChange("tier", ticket.tier.value, ruled.value))
            _system_event(ticket, "tier", ticket.tier.value, ruled.value, now)
            ticket.tier = ruled
        if ticket.assignee_id is None:
            auto_assign(change, now)
    elif _reopened(change):
        if ticket.assignee is None or not is_available(ticket.assignee, now):
            auto_assign(change, now)
    elif (
        change.kind == "escalation"
        and ticket.tier in (Tier.l2, Tier.manager)
        and (ticket.assignee is None or ticket.assignee.tier != ticket.tier.value)
    ):
        auto_assign(change, now)


def _reopened(change: TicketChange) -> bool:
    status = change.changed("status")
    return (
        change.kind in ("fields", "reply")
        and status is not None
        and status.old == Status.solved.value
        and status.new == Status.open.value
    )


def auto_assign(change: TicketChange, now: datetime) -> User | None:
    """Assign by the algorithm, as the System, inside the current change (no second version bump)."""
    ticket = change.ticket
    decision = decide(ticket, now)
    ticket.routing_flagged_at = None if decision.settled else now
    user = decision.user
    if user is None or user.id == ticket.assignee_id:
        return user
    old = ticket.assignee.name if ticket.assignee else None
    # the column with the relationship: the notification step of this change reads the id before any flush, and
    # must tell the new assignee (not the previous one, nor nobody on a new ticket)
    ticket.assignee, ticket.assignee_id = user, user.id
    stamp_assignment(user, now)
    _system_event(ticket, "assignee", old, user.name, now, new_user_id=user.id)
    change.changes.append(FieldChange("assignee", old, user.name, user.id))
    return user


def _system_event(
    ticket: Ticket, field: str, old: str | None, new: str | None, now: datetime, *, new_user_id: int | None = None
) -> None:
    db.session.add(
        TicketEvent(
            ticket_id=ticket.id,
            kind=EventKind.field_change,
            author_id=None,
            field=field,
            old_value=old,
            new_value=new,
            new_user_id=new_user_id,
            ticket_version=ticket.version,
            created_at=now,
        )
    )
