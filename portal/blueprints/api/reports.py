"""Reports in the JSON API: team summary, agents, the tickets behind a figure, and their CSV downloads.

    GET /api/v1/reports/summary?from=2026-03-01&to=2026-04-01&tz=Europe/London   → the summary object
    GET /api/v1/reports/agents?from=…&to=…&tz=…     → {"period": {...}, "generated_at": "…Z", "agents": [...]}
    GET /api/v1/reports/tickets?figure=open_at_end&from=…&to=…[&agent_id=7]
                                                    → {"period", "figure", "count", "ticket_ids": [...]}
    GET /api/v1/reports/summary.csv, /violations.csv, /agents.csv, /tickets.csv (same parameters; streamed)

``from`` and ``to`` are local dates (``to`` is the first day after the period), ``tz`` an IANA zone (default: the
portal's ``REPORT_TIMEZONE``). Manager and admin tokens only (others: 403); bad parameters are a 400 with the
API's JSON error body, naming the parameter in ``fields``. Shapes: ``portal.services.reports``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import Response, g, jsonify, request

from portal.blueprints.api.routes import token_required
from portal.errors import json_error
from portal.models import Role
from portal.params import parse_id
from portal.services import audit, reports
from portal.services.reports import export
from portal.services.reports.periods import Period, iso

REPORT_ROLES = frozenset({Role.manager, Role.admin})


def report_access(view: Callable) -> Callable:
    """A valid bearer token (else 401) of a manager or an admin (else 403)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if g.api_user.role not in REPORT_ROLES:
            return json_error(403, "forbidden", "Reports are available to managers and admins only.")
        return view(*args, **kwargs)

    return token_required(wrapper)


def _period() -> Period:
    return Period.parse(request.args.get("from"), request.args.get("to"), request.args.get("tz"))


def _figure() -> tuple[str, int | None]:
    figure = (request.args.get("figure") or "").strip()
    agent = (request.args.get("agent_id") or "").strip()
    if not figure:
        raise reports.UnknownFigure("The parameter 'figure' is required.", {"figure": "Choose a figure."})
    if agent and parse_id(agent) is None:  # ASCII digits within the id range
        raise reports.UnknownFigure("agent_id must be a staff member's id.", {"agent_id": "Use a numeric id."})
    return figure, parse_id(agent) if agent else None


def _csv(lines, name: str, period: Period) -> Response:
    audit.record(
        "report.download",
        target_type="report",
        target_id=name,
        target_label=f"{name}.csv (API)",
        detail=f"{name} {period.start_date.isoformat()} to {period.end_date.isoformat()} ({period.zone_name})",
        actor=g.api_user,
    )
    response = Response(lines, mimetype="text/csv")
    filename = f"{name}-{period.start_date.isoformat()}-{period.end_date.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@report_access
def summary():
    return jsonify(reports.summary(_period()))


@report_access
def agents():
    data = reports.facts(_period())
    return jsonify({"period": data.period.as_dict(), "generated_at": iso(data.now), "agents": reports.agents(data)})


@report_access
def tickets():
    figure, agent_id = _figure()
    data = reports.facts(_period())
    ids = reports.tickets_behind(figure, data, agent_id=agent_id)
    return jsonify({"period": data.period.as_dict(), "figure": figure, "count": len(ids), "ticket_ids": ids})


@report_access
def summary_csv():
    period = _period()
    return _csv(export.summary_csv(period), "summary", period)


@report_access
def violations_csv():
    period = _period()
    return _csv(export.violations_csv(period), "sla-violations", period)


@report_access
def agents_csv():
    period = _period()
    return _csv(export.agents_csv(period), "agents", period)


@report_access
def tickets_csv():
    figure, agent_id = _figure()
    period = _period()
    ids = reports.tickets_behind(figure, period, agent_id=agent_id)
    return _csv(export.tickets_csv(ids), f"tickets-{figure.replace('.', '-')}", period)
