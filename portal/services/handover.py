"""The shift hand-over: at each shift start, the open critical and high tickets of the people going off shift go to
the incoming shift (or are flagged), flagged tickets are retried, and the incoming shift gets one summary.

It sits above the ticket services (a reassignment is a ticket change); who is on shift and who should get a ticket
are ``portal.services.routing``'s.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from portal.extensions import db
from portal.models import OPEN_STATUSES, OutboxMessage, Priority, Ticket, User, utcnow
from portal.models.roster import ShiftWindow, minute_of_day
from portal.services import outbox
from portal.services.routing import decide, shift_windows, stamp_assignment, tier_for
from portal.services.tickets import assign_by_system

HANDOVER_PRIORITIES = (Priority.critical, Priority.high)


def current_shift(now: datetime) -> tuple[ShiftWindow, datetime, ShiftWindow] | None:
    """(incoming shift, its start instant, outgoing shift) for ``now``; None when no shift covers ``now``."""
    windows = shift_windows()
    covering = [w for w in windows if w.covers(minute_of_day(now))]
    if not covering:
        return None
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)

    def start_of(w: ShiftWindow) -> datetime:
        start = day_start + timedelta(minutes=w.start_minute)
        return start if start <= now else start - timedelta(days=1)

    incoming = max(covering, key=start_of)
    start = start_of(incoming)
    before = start - timedelta(minutes=1)
    outgoing = [w for w in windows if w.region is not incoming.region and w.covers(minute_of_day(before))]
    return incoming, start, (outgoing[0] if outgoing else incoming)


def run_handover(now: datetime | None = None) -> dict:
    """At a shift start: reassign the open critical/high tickets of the people going off shift to the incoming
    shift, retry flagged tickets, and send the incoming shift one summary. A ticket the incoming shift cannot take
    goes to the on-call person or a manager, like any routing decision, and stays flagged for the next shift start;
    only a ticket nobody can take stays where it is. Once per shift start (the summary's dedupe key); running it
    again does nothing. Flushes; the caller commits."""
    now = now or utcnow()
    found = current_shift(now)
    if found is None:
        return {"skipped": True, "reason": "no shift covers this time"}
    incoming, start, outgoing = found
    key = f"handover:{incoming.region.value}:{start.isoformat()}"
    if db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)) is not None:
        return {"skipped": True, "reason": "already handed over", "shift": incoming.region.value}
    reassigned, flagged = _hand_over(_tickets_to_hand_over(outgoing), now)
    summary = {
        "shift": incoming.region.value,
        "from_shift": outgoing.region.value,
        "reassigned": reassigned,
        "flagged": flagged,
    }
    outbox.emit("notify.handover_summary", summary, dedupe_key=key)
    db.session.flush()
    return summary


def _tickets_to_hand_over(outgoing: ShiftWindow) -> list[Ticket]:
    """Open critical/high tickets of the people going off shift, and every ticket flagged for a retry."""
    leaving = select(User.id).where(User.shift_region == outgoing.region)
    stmt = (
        select(Ticket)
        .where(
            Ticket.status.in_(OPEN_STATUSES),
            or_(
                and_(Ticket.priority.in_(HANDOVER_PRIORITIES), Ticket.assignee_id.in_(leaving)),
                Ticket.routing_flagged_at.is_not(None),
            ),
        )
        .order_by(Ticket.priority, Ticket.id)
    )
    return list(db.session.scalars(stmt))


def _hand_over(tickets: list[Ticket], now: datetime) -> tuple[dict[str, int], list[int]]:
    """Route each ticket again; returns {ticket id: new assignee id} and the ids left flagged for the next shift."""
    reassigned, flagged = {}, []
    for ticket in tickets:
        decision = decide(ticket, now, tier=tier_for(ticket))
        if decision.settled:
            ticket.routing_flagged_at = None
        elif ticket.priority in HANDOVER_PRIORITIES:
            ticket.routing_flagged_at = ticket.routing_flagged_at or now
            flagged.append(ticket.id)
        if decision.user is not None and decision.user.id != ticket.assignee_id:
            assign_by_system(ticket, decision.user)
            stamp_assignment(decision.user, now)
            reassigned[str(ticket.id)] = decision.user.id
    return reassigned, flagged
