"""SLA decisions of a period: the targets whose decision instant (breach, else achievement) lies in it.

The clock engine keeps the facts on each ticket (``*_achieved_at``, ``*_breached_at``, ``*_breach_priority``,
``*_decided_at``, indexed); a report reads the tickets whose decision instant lies in the period. One more kind of
decision is not stored yet: a running target whose due instant has passed but whose breach the sweep has not
recorded is breached at its due instant. Those are found among the open tickets with a running clock (partial
indexes) and judged by ``portal.services.sla.decision`` — the same rule the ticket pages show.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import case, func, select

from portal.extensions import db
from portal.models import Priority, Status, Ticket
from portal.models.tickets import OPEN_FR_RUNNING_SQL, OPEN_RES_RUNNING_SQL
from portal.services import sla
from portal.services.reports.periods import Period
from portal.services.reports.rows import instant, raw

TARGETS = ("first_response", "resolution")
MET, BREACHED = "met", "breached"
_CLOSED = (Status.solved, Status.closed)


class Decision(NamedTuple):
    """One decided target: ``verdict`` met or breached at instant ``at``; ``priority`` in force at a breach."""

    ticket_id: int
    target: str
    verdict: str
    at: datetime
    priority: str | None = None


def _columns(target: str):
    return (
        getattr(Ticket, f"{target}_decided_at"),
        getattr(Ticket, f"{target}_breached_at"),
        getattr(Ticket, f"{target}_breach_priority"),
    )


def stored(period: Period, target: str) -> list[Decision]:
    """Decisions recorded on the tickets (one indexed range query on ``<target>_decided_at``)."""
    decided, breached, breach_priority = _columns(target)
    rows = (
        db.session.connection()
        .execute(
            select(Ticket.id, raw(decided), raw(breached), breach_priority, raw(Ticket.priority)).where(
                decided >= period.start, decided < period.end
            )
        )
        .all()
    )
    result = []
    for ticket_id, at, breach_at, priority, current in rows:
        if breach_at is not None:
            result.append(Decision(ticket_id, target, BREACHED, instant(breach_at), priority or current))
        else:
            result.append(Decision(ticket_id, target, MET, instant(at)))
    return result


def stored_counts(period: Period, target: str) -> Counter:
    """How many recorded decisions of ``target`` lie in the period: ``{(verdict, breach priority or None): n}``
    (the same rows as ``stored``, counted by the database)."""
    decided, breached, breach_priority = _columns(target)
    is_breached = case((breached.is_not(None), 1), else_=0)
    priority = case((breached.is_not(None), func.coalesce(breach_priority, raw(Ticket.priority))), else_=None)
    rows = (
        db.session.connection()
        .execute(
            select(is_breached, priority, func.count())
            .where(decided >= period.start, decided < period.end)
            .group_by(is_breached, priority)
        )
        .all()
    )
    return Counter({(BREACHED if flag else MET, priority): n for flag, priority, n in rows})


def decide(ticket, target: str, now: datetime) -> tuple[str, datetime, str | None] | None:
    """(verdict, instant, breach priority) of one target as of ``now``, None while it runs: the clock's own rule."""
    return sla.decision(ticket, target, now)


def unrecorded_breaches(period: Period, target: str, now: datetime) -> list[Decision]:
    """Running targets that ran past a due instant lying in the period (and before ``now``) unrecorded."""
    decided, _breached, _priority = _columns(target)
    due = getattr(Ticket, f"{target}_due")
    running = OPEN_FR_RUNNING_SQL if target == "first_response" else OPEN_RES_RUNNING_SQL
    upper = min(period.end, now)
    if upper <= period.start:
        return []
    tickets = db.session.scalars(
        select(Ticket).where(running, decided.is_(None), due >= period.start, due < upper)
    ).all()
    result = []
    for ticket in tickets:
        found = decide(ticket, target, now)
        if found is not None and found[0] == BREACHED and period.contains(found[1]):
            result.append(Decision(ticket.id, target, BREACHED, found[1], found[2] or Priority(ticket.priority).value))
    return result


def unrecorded(period: Period, now: datetime) -> list[Decision]:
    """Both targets' breaches not yet swept (see ``unrecorded_breaches``)."""
    return [d for target in TARGETS for d in unrecorded_breaches(period, target, now)]
