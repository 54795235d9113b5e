"""The reports engine: team and individual figures of a period, the tickets behind each figure, CSV exports.

Every figure has one definition, written below; this package is its one implementation, for the report pages,
the scheduled emails, the live dashboard, the JSON API and the CSV downloads alike.

Interface
---------
``Period(start_date, end_date, tz=None)`` (``periods``): ``[from, to)`` as local dates in an IANA zone (default
``REPORT_TIMEZONE``, default ``UTC``); ``.start``/``.end`` are the UTC instants of the two local midnights,
``.days`` the number of dates, ``.hours`` the real length (743/745 for a month holding a DST change). Makers:
``Period.day(d)``, ``Period.iso_week(d)`` (Monday first), ``Period.month(d)``, ``Period.containing("week", d)``,
``Period.last_days(30, now)``, ``Period.parse(from_str, to_str, tz_str)``. Bad input raises ``PeriodError``
(a ``ServiceError``: status 400, code ``invalid_period``, ``fields`` naming ``from``/``to``/``tz``).

``summary(period, now=None) -> dict`` — the team figures::

    {"period": {"from": "2026-03-01", "to": "2026-04-01", "tz": "Europe/London",
                "start": "2026-03-01T00:00:00Z", "end": "2026-03-31T23:00:00Z", "days": 31, "hours": 743.0},
     "generated_at": "…Z",                       # the "now" the verdicts are judged at
     "tickets_created": int, "tickets_solved": int,
     "response_sla": {"met": int, "breached": int, "rate": float | None},
     "resolution_sla": {"met": int, "breached": int, "rate": float | None},
     "sla_compliance": float | None,
     "sla_violations": {"critical": {"first_response": int, "resolution": int}, "high": {…}, "medium": {…},
                        "low": {…}},            # always all four, keyed by the priority in force at the breach
     "avg_first_response_minutes": float | None, "median_first_response_minutes": float | None,
     "avg_resolution_minutes": float | None,
     "fcr_rate": float | None, "escalation_rate": float | None, "reopen_rate": float | None,
     "csat": {"responses": int, "average": float | None, "satisfied_rate": float | None},
     "open_at_end": int, "open_at_end_by_priority": {"critical": int, "high": int, "medium": int, "low": int},
     "kb_contributions": {"total": int, "published": int, "updated": int,
                          "by_author": [{"id": int | None, "name": str | None, "count": int,
                                         "published": int, "updated": int}]},   # highest count first
     "cost_per_ticket": float | None,
     "targets": {"response_sla": 0.95, "resolution_sla": 0.90, "csat": 4.5},
     "targets_met": {"response_sla": bool | None, "resolution_sla": bool | None, "csat": bool | None}}

Rates are fractions in [0, 1] (pages show percentages; ``reopen_rate`` counts every ticket reopened in the period
over those solved in it, so it can exceed 1 in an odd period); minutes are floats at full precision; an average, a
median or a rate is None when nothing is counted. Targets met: SLA rates ``>=`` their target, CSAT ``>`` 4.5.

``agents(period, now=None) -> list[dict]`` — one row per active staff member (agent, senior agent, manager,
admin), plus an inactive one who has something counted in the period; managers, senior agents, agents, admins,
by name::

    {"id", "name", "email", "role", "active": bool,
     "resolved": int, "resolved_per_day": float, "avg_resolution_minutes": float | None, "fcr_rate": float | None,
     "first_responses": int, "avg_first_response_minutes": float | None,
     "sla_met": int, "sla_breached": int, "sla_compliance": float | None,
     "csat_average": float | None, "csat_responses": int, "escalations_made": int, "kb_contributions": int}

``tickets_behind(figure, period, now=None, agent_id=None) -> list[int]`` — the ticket ids behind a figure, in
ascending order, ``len(ids) == `` the figure (a ticket rated twice is listed twice under ``csat``). Figures:
``tickets_created``, ``tickets_solved``, ``first_responses``, ``response_sla.met``, ``response_sla.breached``,
``resolution_sla.met``, ``resolution_sla.breached``, ``sla_violations.<priority>.<first_response|resolution>``,
``open_at_end``, ``open_at_end_by_priority.<priority>``, ``csat``, ``reopen``, ``escalation``, ``fcr``; the summary's
own names of averages and rates lead to their lists (``avg_resolution_minutes`` → ``tickets_solved``,
``fcr_rate`` → ``fcr``, ``reopen_rate``, ``escalation_rate``, ``csat.responses``, ``*_first_response_minutes``).
Per person (``agent_id=``): ``agent.resolved``, ``agent.fcr``, ``agent.first_responses``, ``agent.sla_met``,
``agent.sla_breached``, ``agent.csat``, ``agent.escalations``. ``FIGURES`` lists them; an unknown one raises
``UnknownFigure`` (400).

One page showing several of these for the same period should read the facts once: ``data = facts(period, now)``,
then ``summary(data)``, ``agents(data)``, ``tickets_behind("open_at_end", data)`` — every function accepts a
``ReportData`` in place of a ``Period`` (``now`` is then the data's own). Its facts, read lazily and kept, are
there for views the figures do not cover (e.g. one row per day): ``created`` (ids), ``solves`` (ticket → its
entries into ``solved`` in the period as ``(instant, event id)``, in order), ``decisions`` (``Decision(ticket_id,
target, verdict, at, priority)``), ``decision_counts``, ``first_responses`` (ticket → ``FirstResponse``),
``ratings``, ``escalations``, ``reopened``, ``fcr``, ``open_at_end`` (ticket → priority at the end),
``kb_contributions``, and ``assignee_at(ticket_id, (instant, event_id))``.

CSV (``export``): ``summary_csv(period, now)``, ``violations_csv(…)``, ``agents_csv(…)`` and ``tickets_csv(ids)``
are generators of CRLF lines that need no request context while they run: a view streams one as it is,
``Response(export.agents_csv(period), mimetype="text/csv")``; ``safe_cell`` neutralizes formula-like text.

Definitions that decide real tickets
------------------------------------
An instant ``at`` is in the period when ``start <= at < end``; a ticket's events apply in ``(created_at, id)`` order.
SLA verdicts come from the facts the clock engine keeps on each ticket (decision instant = breach, else
achievement), plus running targets already past their due instant that the sweep has not recorded yet (breached at
the due instant, by ``portal.services.sla.decision``); they are as of ``now``: a resolution met and then reopened is
running again and its old decision leaves the period. ``fcr``: exactly one public staff reply before the ticket's
last entry into ``solved`` in the period and no reopen (leaving ``solved`` for anything but ``closed``) at any time up
to now. ``open_at_end`` replays status and priority events strictly before the end. An escalation is a tier change
upwards (L1 < L2 < manager < engineering), by a person or by the system. The assignee at a decision made by an event
(a solve, a staff reply, a priority raise, a reopen) is the one after that event; at a due instant or a rating, the
one after every event up to that instant. KB contributions: the revisions saved in the period that published an
article or changed a published one (``ArticleRevision.contribution``), by their authors.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from portal.services.reports import drilldown, people, team
from portal.services.reports.drilldown import FIGURES, UnknownFigure
from portal.services.reports.facts import ReportData
from portal.services.reports.gcpause import collector_paused
from portal.services.reports.periods import Period, PeriodError


def facts(period: Period | ReportData, now: datetime | None = None) -> ReportData:
    """The facts of ``period`` as of ``now`` (read lazily, once), to share between several figures of a page."""
    return period if isinstance(period, ReportData) else ReportData(period, now)


@collector_paused
def summary(period: Period | ReportData, now: datetime | None = None) -> dict[str, Any]:
    """The team figures of ``period`` as of ``now`` (default: the current instant)."""
    return team.summary(facts(period, now))


@collector_paused
def agents(period: Period | ReportData, now: datetime | None = None) -> list[dict[str, Any]]:
    """The individual figures of every active staff member for ``period``."""
    return people.agents(facts(period, now))


@collector_paused
def tickets_behind(
    figure: str, period: Period | ReportData, now: datetime | None = None, *, agent_id: int | None = None
) -> list[int]:
    """The ticket ids behind ``figure`` (ascending; as many as the figure counts)."""
    return drilldown.tickets_behind(facts(period, now), figure, agent_id=agent_id)


__all__ = [
    "FIGURES",
    "Period",
    "PeriodError",
    "ReportData",
    "UnknownFigure",
    "agents",
    "facts",
    "summary",
    "tickets_behind",
]
