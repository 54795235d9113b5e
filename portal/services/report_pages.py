"""What the report pages show beside the reports engine's figures (``portal.services.reports``), cut from the same
facts so that every number agrees with the summary of its period:

- ``daily_rows(data)``: per local date of the period, tickets created and solved, SLA targets met and breached (the
  weekly trend and the monthly compliance line). A day's numbers are the summary of that one day: its created
  tickets, the distinct tickets that entered ``solved`` that day, the targets decided that day.
- ``created_by_category(data)``: the period's created tickets by ticket category (common issues), and
  ``tickets_behind`` for ``category.<slug>`` (``category.none`` for tickets without one) beside the engine's figures.
- ``search_terms`` / ``kb_gaps``: what people typed into the help-centre and API search in the period, and the
  searches that found nothing or whose results nobody opened — the admin KB report's definitions
  (``portal.services.kb.reports``), bounded by the period instead of "the last N days".
- ``report_zone`` / ``zone_choices``: the time zone a viewer's reports default to and the zones the picker offers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import STAFF_ROLES, Category, Priority, Status, Ticket, User, format_reference
from portal.services import reports
from portal.services.kb import reports as kb_reports
from portal.services.kb.reports import QueryRow
from portal.services.reports.decisions import BREACHED, MET
from portal.services.reports.periods import Period, PeriodError, parse_date, zone

KINDS = {"day": "Daily", "week": "Weekly", "month": "Monthly"}
NO_CATEGORY = "none"
SEARCH_ROWS = 15


@dataclass
class DayRow:
    day: date
    created: int = 0
    solved: int = 0
    response_met: int = 0
    response_breached: int = 0
    resolution_met: int = 0
    resolution_breached: int = 0

    @staticmethod
    def _rate(met: int, breached: int) -> float | None:
        return met / (met + breached) if met + breached else None

    @property
    def response_rate(self) -> float | None:
        return self._rate(self.response_met, self.response_breached)

    @property
    def resolution_rate(self) -> float | None:
        return self._rate(self.resolution_met, self.resolution_breached)

    @property
    def compliance(self) -> float | None:
        return self._rate(self.response_met + self.resolution_met, self.response_breached + self.resolution_breached)


# --------------------------------------------------------------------------- periods and zones


def report_zone(viewer: User | None) -> str:
    """The zone a viewer's reports default to: their own zone when it is a known one, else ``REPORT_TIMEZONE``."""
    name = getattr(viewer, "timezone", None)
    if name:
        try:
            return zone(name).key
        except PeriodError:
            pass
    return zone(None).key


def zone_choices(current: str, viewer: User | None) -> list[str]:
    """The zones the period picker offers: the one in use, the viewer's, the reporting zone, UTC and the zones of
    the active staff (a short list; any IANA name typed into the URL works too)."""
    names = [current, report_zone(viewer), zone(None).key, "UTC"]
    names += sorted(
        db.session.scalars(
            select(User.timezone).where(User.role.in_(list(STAFF_ROLES)), User.is_active_account.is_(True)).distinct()
        )
    )
    seen: list[str] = []
    for name in names:
        try:
            key = zone(name).key
        except PeriodError:
            continue
        if key not in seen:
            seen.append(key)
    return seen


def period_of(kind: str, day_text: str | None, tz: str | None, today: date) -> Period:
    """The day, ISO week or month holding ``day_text`` (``YYYY-MM-DD``; default ``today``) in ``tz``."""
    day = parse_date(day_text, "date") if (day_text or "").strip() else today
    return Period.containing(kind, day, zone(tz))


# --------------------------------------------------------------------------- per-day rows


def _local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def daily_rows(data: reports.ReportData) -> list[DayRow]:
    """One row per local date of the period (zeros included)."""
    period = data.period
    tz = period.tz
    rows = {
        period.start_date + timedelta(days=i): DayRow(period.start_date + timedelta(days=i)) for i in range(period.days)
    }
    for (created_at,) in db.session.execute(
        select(Ticket.created_at).where(Ticket.created_at >= period.start, Ticket.created_at < period.end)
    ):
        rows[_local_day(created_at, tz)].created += 1
    solved_days: dict[date, set[int]] = defaultdict(set)
    for ticket_id, entries in data.solves.items():
        for at, _event_id in entries:
            solved_days[_local_day(at, tz)].add(ticket_id)
    for day, tickets in solved_days.items():
        rows[day].solved = len(tickets)
    for decision in data.decisions:
        row = rows[_local_day(decision.at, tz)]
        name = "response" if decision.target == "first_response" else "resolution"
        suffix = "met" if decision.verdict == MET else "breached" if decision.verdict == BREACHED else None
        if suffix:
            setattr(row, f"{name}_{suffix}", getattr(row, f"{name}_{suffix}") + 1)
    return [rows[day] for day in sorted(rows)]


# --------------------------------------------------------------------------- common issues by category


@dataclass(frozen=True)
class CategoryRow:
    slug: str
    name: str
    count: int


def created_by_category(data: reports.ReportData) -> list[CategoryRow]:
    """Tickets created in the period per ticket category, most first (tickets without a category as "none")."""
    period = data.period
    rows = db.session.execute(
        select(Category.slug, Category.name, func.count(Ticket.id))
        .select_from(Ticket)
        .outerjoin(Category, Category.id == Ticket.category_id)
        .where(Ticket.created_at >= period.start, Ticket.created_at < period.end)
        .group_by(Category.slug, Category.name)
    ).all()
    found = [CategoryRow(slug or NO_CATEGORY, name or "No category", n) for slug, name, n in rows]
    return sorted(found, key=lambda r: (-r.count, r.name.lower()))


def category_tickets(data: reports.ReportData, slug: str) -> list[int]:
    """The ids of the tickets behind a ``created_by_category`` row, ascending."""
    period = data.period
    stmt = select(Ticket.id).where(Ticket.created_at >= period.start, Ticket.created_at < period.end)
    if slug == NO_CATEGORY:
        stmt = stmt.where(Ticket.category_id.is_(None))
    else:
        stmt = stmt.where(Ticket.category_id == select(Category.id).where(Category.slug == slug).scalar_subquery())
    return list(db.session.scalars(stmt.order_by(Ticket.id)))


def tickets_behind(figure: str, data: reports.ReportData, agent_id: int | None = None) -> list[int]:
    """The engine's ``tickets_behind``, plus ``category.<slug>`` (the common-issues rows)."""
    if figure.startswith("category."):
        slug = figure.removeprefix("category.")
        if slug != NO_CATEGORY and not db.session.scalar(select(Category.id).where(Category.slug == slug)):
            raise reports.UnknownFigure(f"Unknown category {slug!r}.", {"figure": "Choose a known category."})
        return category_tickets(data, slug)
    return reports.tickets_behind(figure, data, agent_id=agent_id)


FIGURE_LABELS = {
    "tickets_created": "Tickets created",
    "tickets_solved": "Tickets solved",
    "first_responses": "Tickets with their first response",
    "open_at_end": "Open at the end of the period",
    "csat": "Satisfaction ratings",
    "reopen": "Reopened tickets",
    "escalation": "Escalated tickets",
    "fcr": "First-contact resolutions",
    "agent.resolved": "Resolved",
    "agent.fcr": "First-contact resolutions",
    "agent.first_responses": "First responses",
    "agent.sla_met": "SLA targets met",
    "agent.sla_breached": "SLA targets breached",
    "agent.csat": "Satisfaction ratings",
    "agent.escalations": "Escalations made",
}
PART_LABELS = {
    "response_sla": "First-response SLA",
    "resolution_sla": "Resolution SLA",
    "sla_violations": "SLA violations",
    "open_at_end_by_priority": "Open at the end of the period",
    "category": "Created in category",
    "first_response": "first response",
}


def figure_label(figure: str) -> str:
    """A heading for a drill-down list ("Tickets created", "SLA violations · critical · first response")."""
    if figure in FIGURE_LABELS:
        return FIGURE_LABELS[figure]
    return " · ".join(PART_LABELS.get(part, part.replace("_", " ")) for part in figure.split("."))


# --------------------------------------------------------------------------- drill-down lists


@dataclass(frozen=True)
class TicketLine:
    id: int
    subject: str
    status: Status
    priority: Priority
    created_at: datetime
    assignee: str | None

    @property
    def reference(self) -> str:
        return format_reference(self.id)


@dataclass
class TicketPage:
    items: list[TicketLine]
    number: int
    size: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.number > 1


def ticket_page(ids: list[int], number: int, size: int) -> TicketPage:
    """Page ``number`` of a drill-down list, in the list's order (a ticket listed twice shows twice)."""
    chosen = ids[(number - 1) * size : number * size]
    found = (
        {
            row[0]: TicketLine(*row)
            for row in db.session.execute(
                select(Ticket.id, Ticket.subject, Ticket.status, Ticket.priority, Ticket.created_at, User.name)
                .outerjoin(User, User.id == Ticket.assignee_id)
                .where(Ticket.id.in_(sorted(set(chosen))))
            )
        }
        if chosen
        else {}
    )
    return TicketPage([found[i] for i in chosen if i in found], number, size, len(ids) > number * size)


def staff_name(user_id: int | None) -> str | None:
    return db.session.scalar(select(User.name).where(User.id == user_id)) if user_id is not None else None


# --------------------------------------------------------------------------- searches


def search_terms(period: Period, limit: int = SEARCH_ROWS) -> list[QueryRow]:
    """The searches people typed most often in the period (common issues by search term)."""
    return kb_reports.top_searches(limit=limit, window=(period.start, period.end))


def kb_gaps(period: Period, limit: int = SEARCH_ROWS) -> list[QueryRow]:
    """Searches typed in the period that found nothing or whose results nobody opened (the help-centre gap rule)."""
    return kb_reports.kb_gaps(limit=limit, window=(period.start, period.end))
