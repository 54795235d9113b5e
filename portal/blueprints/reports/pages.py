"""The report pages: the daily, weekly or monthly report of a period (managers and admins), an agent's own figures,
the tickets behind a number, and every table as CSV."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Response, abort, render_template, request, stream_with_context
from flask_login import current_user

from portal.blueprints.common import page_number, roles_required
from portal.models import Role, utcnow
from portal.params import parse_id
from portal.services import audit, report_pages, reports
from portal.services.reports import export
from portal.services.reports.periods import Period, PeriodError, zone
from portal.services.reports.team import TARGETS_OF_SEED

REPORT_ROLES = frozenset({Role.manager, Role.admin})
report_staff = roles_required(Role.agent, Role.senior_agent, Role.manager, Role.admin)
DRILL_PAGE_SIZE = 50
AGENT_TABLES = ("agents", "tickets")  # an agent's own row and the lists behind their own figures
DAY_COLUMNS = (
    "date",
    "tickets_created",
    "tickets_solved",
    "response_sla.met",
    "response_sla.breached",
    "resolution_sla.met",
    "resolution_sla.breached",
    "sla_compliance",
)


def _manager() -> bool:
    return current_user.role in REPORT_ROLES


@dataclass
class Picked:
    """The period picker's values as asked for, and the period they give (None when the input is bad)."""

    kind: str
    day: str
    tz: str
    period: Period | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def previous(self) -> str:
        """A date in the period before this one (its last day)."""
        return (self.period.start_date - timedelta(days=1)).isoformat()


def _picked() -> Picked:
    kind = request.args.get("period") or "day"
    picked = Picked(kind, (request.args.get("date") or "").strip()[:10], (request.args.get("tz") or "").strip()[:64])
    if kind not in report_pages.KINDS:
        picked.kind, picked.errors["period"] = "day", "Choose daily, weekly or monthly."
    picked.tz = picked.tz or report_pages.report_zone(current_user)
    try:
        tz = zone(picked.tz)
        picked.period = report_pages.period_of(picked.kind, picked.day, tz.key, utcnow().astimezone(tz).date())
    except PeriodError as exc:
        picked.errors.update(exc.fields or {"date": exc.message})
    picked.day = picked.day or (picked.period.start_date.isoformat() if picked.period else "")
    if picked.errors:
        picked.period = None  # the form shows what to correct, no report of another period than asked for
    return picked


def _picker(picked: Picked) -> dict:
    return {
        "picked": picked,
        "kinds": report_pages.KINDS,
        "zones": report_pages.zone_choices(picked.tz, current_user),
    }


@report_staff
def index():
    picked = _picked()
    template = "reports/index.html" if _manager() else "reports/mine.html"
    if picked.period is None:
        return render_template(template, **_picker(picked), data=None), 400
    data = reports.facts(picked.period)
    if not _manager():
        mine = [row for row in reports.agents(data) if row["id"] == current_user.id]
        row = mine[0] if mine else None
        return render_template(template, **_picker(picked), data=data, row=row, targets=TARGETS_OF_SEED)
    return render_template(template, **_picker(picked), **_report(picked.kind, data))


def _report(kind: str, data: reports.ReportData) -> dict:
    """What the report of ``kind`` shows: the summary always, the rest by the seed's list of reports."""
    context = {"data": data, "summary": reports.summary(data), "kind": kind}
    if kind in ("day", "week"):
        context["agents"] = reports.agents(data)
    if kind in ("week", "month"):
        context["days"] = report_pages.daily_rows(data)
    if kind == "week":
        context["categories"] = report_pages.created_by_category(data)
        context["searches"] = report_pages.search_terms(data.period)
        context["gaps"] = report_pages.kb_gaps(data.period)
    return context


def _request_period() -> Period:
    return Period.parse(request.args.get("from"), request.args.get("to"), request.args.get("tz"))


def _figure() -> tuple[str, int | None]:
    """The figure and staff id asked for; agents only reach their own ``agent.*`` lists (else 403)."""
    figure = (request.args.get("figure") or "").strip()[:80]
    text = (request.args.get("agent_id") or "").strip()
    agent_id = parse_id(text) if text else None  # ASCII digits within the id range
    if text and agent_id is None:
        raise reports.UnknownFigure("agent_id must be a staff member's id.", {"agent_id": "Use a numeric id."})
    if not figure:
        raise reports.UnknownFigure("Choose a figure to list the tickets behind it.", {"figure": "Choose a figure."})
    if not _manager():
        if not figure.startswith("agent.") or agent_id not in (None, current_user.id):
            abort(403)
        agent_id = current_user.id
    return figure, agent_id


@report_staff
def tickets():
    period = _request_period()
    figure, agent_id = _figure()
    data = reports.facts(period)
    ids = report_pages.tickets_behind(figure, data, agent_id)
    number, size = page_number(), DRILL_PAGE_SIZE
    page = report_pages.ticket_page(ids, number, size)
    return render_template(
        "reports/tickets.html",
        period=period,
        figure=figure,
        label=report_pages.figure_label(figure),
        agent=report_pages.staff_name(agent_id),
        agent_id=agent_id,
        count=len(ids),
        page=page,
        pages=max(1, -(-len(ids) // size)),
    )


@report_staff
def csv_download(table: str):
    if table not in _TABLES:
        abort(404)
    period = _request_period()
    if not _manager() and table not in AGENT_TABLES:
        abort(403)
    data = reports.facts(period)
    lines = _TABLES[table](data)
    audit.record(
        "report.download",
        target_type="report",
        target_id=table,
        target_label=f"{table}.csv",
        detail=f"{table} {period.start_date.isoformat()} to {period.end_date.isoformat()} ({period.zone_name})"
        + (f" figure {request.args.get('figure', '')[:60]}" if table == "tickets" else ""),
    )
    response = Response(stream_with_context(lines), mimetype="text/csv")
    filename = f"{table}-{period.start_date.isoformat()}-{period.end_date.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _agents_csv(data: reports.ReportData) -> Iterator[str]:
    if _manager():
        return export.agents_csv(data)
    rows = [row for row in reports.agents(data) if row["id"] == current_user.id]
    return _lines(export.AGENT_COLUMNS, ([row[c] for c in export.AGENT_COLUMNS] for row in rows))


def _tickets_csv(data: reports.ReportData) -> Iterator[str]:
    figure, agent_id = _figure()
    return export.tickets_csv(report_pages.tickets_behind(figure, data, agent_id))


def _lines(header, rows) -> Iterator[str]:
    rows = list(rows)  # computed before the first byte is sent

    def generate() -> Iterator[str]:
        yield export.line(header)
        for row in rows:
            yield export.line(row)

    return generate()


def _days_csv(data: reports.ReportData) -> Iterator[str]:
    return _lines(
        DAY_COLUMNS,
        (
            (
                d.day.isoformat(),
                d.created,
                d.solved,
                d.response_met,
                d.response_breached,
                d.resolution_met,
                d.resolution_breached,
                d.compliance,
            )
            for d in report_pages.daily_rows(data)
        ),
    )


def _searches_csv(rows) -> Iterator[str]:
    return _lines(
        ("search", "searches", "avg_results", "clicks", "last"),
        ((r.query, r.searches, r.avg_results, r.clicks, r.last) for r in rows),
    )


_TABLES = {
    "summary": lambda data: export.summary_csv(data),
    "violations": lambda data: export.violations_csv(data),
    "agents": _agents_csv,
    "tickets": _tickets_csv,
    "days": _days_csv,
    "categories": lambda data: _lines(
        ("category", "name", "tickets_created"),
        ((r.slug, r.name, r.count) for r in report_pages.created_by_category(data)),
    ),
    "searches": lambda data: _searches_csv(report_pages.search_terms(data.period, limit=1000)),
    "gaps": lambda data: _searches_csv(report_pages.kb_gaps(data.period, limit=1000)),
}
CSV_TABLES = tuple(_TABLES)
