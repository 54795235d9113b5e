"""The tickets behind each figure, cut from the same sets as the figures (so a list's length is the count)."""

from __future__ import annotations

from collections.abc import Callable

from portal.services.errors import ServiceError
from portal.services.reports.decisions import BREACHED, MET, TARGETS
from portal.services.reports.facts import PRIORITIES, ReportData
from portal.services.reports.people import tallies


class UnknownFigure(ServiceError):
    status_code = 400
    code = "unknown_figure"


def _sla(target: str, verdict: str) -> Callable[[ReportData], list[int]]:
    return lambda d: [x.ticket_id for x in d.decided(target, verdict)]


def _violations(priority: str, target: str) -> Callable[[ReportData], list[int]]:
    return lambda d: [
        x.ticket_id for x in d.decisions if x.verdict == BREACHED and x.target == target and x.priority == priority
    ]


def _open(priority: str) -> Callable[[ReportData], list[int]]:
    return lambda d: [t for t, p in d.open_at_end.items() if p == priority]


TEAM: dict[str, Callable[[ReportData], list[int]]] = {
    "tickets_created": lambda d: list(d.created),
    "tickets_solved": lambda d: list(d.solves),
    "first_responses": lambda d: list(d.first_responses),
    "open_at_end": lambda d: list(d.open_at_end),
    "csat": lambda d: [r.ticket_id for r in d.ratings],
    "reopen": lambda d: list(d.reopened),
    "escalation": lambda d: list(d.escalated_created),
    "fcr": lambda d: list(d.fcr),
    **{
        f"{name}.{verdict}": _sla(target, verdict)
        for target, name in zip(TARGETS, ("response_sla", "resolution_sla"), strict=True)
        for verdict in (MET, BREACHED)
    },
    **{f"sla_violations.{p}.{t}": _violations(p, t) for p in PRIORITIES for t in TARGETS},
    **{f"open_at_end_by_priority.{p}": _open(p) for p in PRIORITIES},
}
# The summary's own field names, for the lists behind averages and rates (a rate links to its numerator).
ALIASES = {
    "avg_first_response_minutes": "first_responses",
    "median_first_response_minutes": "first_responses",
    "avg_resolution_minutes": "tickets_solved",
    "csat.responses": "csat",
    "reopen_rate": "reopen",
    "escalation_rate": "escalation",
    "fcr_rate": "fcr",
}
AGENT: dict[str, Callable] = {
    "resolved": lambda d, t: list(t.resolved),
    "fcr": lambda d, t: list(t.resolved & d.fcr),
    "first_responses": lambda d, t: list(t.first_responses),
    "sla_met": lambda d, t: list(t.sla_met),
    "sla_breached": lambda d, t: list(t.sla_breached),
    "csat": lambda d, t: [ticket for ticket, _rating in t.ratings],
    "escalations": lambda d, t: list(t.escalations),
}
AGENT_ALIASES = {
    "avg_resolution_minutes": "resolved",
    "avg_first_response_minutes": "first_responses",
    "csat_responses": "csat",
    "csat_average": "csat",
    "escalations_made": "escalations",
    "fcr_rate": "fcr",
}
FIGURES = sorted(TEAM) + sorted(f"agent.{name}" for name in AGENT)


def tickets_behind(data: ReportData, figure: str, agent_id: int | None = None) -> list[int]:
    """Ticket ids behind ``figure`` in ascending order. A ticket appears once per thing it adds to a count (twice
    in ``csat`` when rated twice in the period), so ``len`` is always the figure. Agent figures
    (``agent.resolved``, ...) need ``agent_id``."""
    name = ALIASES.get(figure, figure)
    if name in TEAM:
        return sorted(TEAM[name](data))
    if name.startswith("agent."):
        part = name.removeprefix("agent.")
        part = AGENT_ALIASES.get(part, part)
        if part in AGENT:
            try:
                person = int(agent_id)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise UnknownFigure(
                    f"The figure {figure!r} needs the staff member's numeric agent_id.",
                    {"agent_id": "Give the staff id."},
                ) from None
            tally = tallies(data).get(person)
            return sorted(AGENT[part](data, tally)) if tally is not None else []
    raise UnknownFigure(
        f"Unknown figure {figure!r}. Choose one of: {', '.join(FIGURES)}.", {"figure": "Choose a known figure."}
    )
