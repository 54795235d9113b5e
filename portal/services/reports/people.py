"""The agents report: the individual figures of every staff member for a period, cut from ``ReportData``."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from portal.models import Role
from portal.services.reports.decisions import MET
from portal.services.reports.facts import ReportData
from portal.services.reports.team import average, ratio

ROLE_ORDER = {Role.manager: 0, Role.senior_agent: 1, Role.agent: 2, Role.admin: 3}


@dataclass
class Tally:
    """What counts for one person (ticket ids where a figure has a drill-down list)."""

    resolved: set[int] = field(default_factory=set)
    first_responses: list[int] = field(default_factory=list)
    sla_met: list[int] = field(default_factory=list)
    sla_breached: list[int] = field(default_factory=list)
    ratings: list[tuple[int, int]] = field(default_factory=list)  # (ticket id, rating)
    escalations: list[int] = field(default_factory=list)
    kb: int = 0


def tallies(data: ReportData) -> dict[int, Tally]:
    """Per user id: the tickets and events that count for them in ``data``'s period."""
    found: dict[int, Tally] = defaultdict(Tally)
    for ticket_id, entries in data.solves.items():
        for key in entries:
            assignee = data.assignee_at(ticket_id, key)
            if assignee is not None:
                found[assignee].resolved.add(ticket_id)
    for reply in data.first_responses.values():
        if reply.author_id is not None:
            found[reply.author_id].first_responses.append(reply.ticket_id)
    for decision in data.decisions:
        assignee = data.decision_assignee(decision)
        if assignee is not None:
            tally = found[assignee]
            (tally.sla_met if decision.verdict == MET else tally.sla_breached).append(decision.ticket_id)
    for rating in data.ratings:
        assignee = data.rating_assignee(rating)
        if assignee is not None:
            found[assignee].ratings.append((rating.ticket_id, rating.rating))
    for escalation in data.escalations:
        if escalation.author_id is not None:
            found[escalation.author_id].escalations.append(escalation.ticket_id)
    for author_id, n in Counter(c.author_id for c in data.kb_contributions).items():
        if author_id is not None:
            found[author_id].kb += n
    return found


def _row(data: ReportData, member, tally: Tally) -> dict[str, Any]:
    resolved = tally.resolved
    first = [data.first_responses[t].minutes for t in tally.first_responses]
    decided = len(tally.sla_met) + len(tally.sla_breached)
    ratings = [r for _t, r in tally.ratings]
    return {
        "id": member.id,
        "name": member.name,
        "email": member.email,
        "role": Role(member.role).value,
        "active": bool(member.active),
        "resolved": len(resolved),
        "resolved_per_day": len(resolved) / data.period.days,
        "avg_resolution_minutes": average([data.resolution_minutes(t) for t in resolved]),
        "fcr_rate": ratio(len(resolved & data.fcr), len(resolved)),
        "first_responses": len(first),
        "avg_first_response_minutes": average(first),
        "sla_met": len(tally.sla_met),
        "sla_breached": len(tally.sla_breached),
        "sla_compliance": ratio(len(tally.sla_met), decided),
        "csat_average": average(ratings),
        "csat_responses": len(ratings),
        "escalations_made": len(tally.escalations),
        "kb_contributions": tally.kb,
    }


def agents(data: ReportData) -> list[dict[str, Any]]:
    """One row per active staff member (zeros and None when nothing counts), plus any inactive staff member who
    has something counted in the period (``active`` False); managers first, then senior agents, agents, admins,
    by name within a role."""
    counted = tallies(data)
    members = [m for m in data.staff if m.active or m.id in counted]
    members.sort(key=lambda m: (ROLE_ORDER.get(Role(m.role), 9), m.name.lower(), m.id))
    return [_row(data, m, counted.get(m.id) or Tally()) for m in members]
