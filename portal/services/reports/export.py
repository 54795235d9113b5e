"""CSV exports of the report tables, as generators of lines, streamed to the browser (no row cap).

    Response(export.summary_csv(period), mimetype="text/csv")

The generators need no request context while they run, so a view returns them as the body as they are.
``tickets_csv`` reads the tickets batch by batch, each read inside an application context of its own (the app is
taken when the generator is made); ``stream_with_context`` is not needed, and is best avoided: it keeps the
request's contexts pushed across yields, which breaks when the first chunk and the rest are read in different
contexts (the test client reads the first chunk inside the request).

``summary_csv`` (figure, value), ``violations_csv`` (priority × target), ``agents_csv`` (one row per staff member)
and ``tickets_csv(ids)`` (reference, subject, status, priority, created_at, assignee — the drill-down lists, read
in batches in the order given). Every text cell goes through ``safe_cell``: a cell that a spreadsheet would run as a
formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a leading apostrophe. Numbers
are written as numbers (full precision); None is an empty cell. Lines end with CRLF (RFC 4180).

The figures of ``summary_csv``/``agents_csv`` are computed when the generator is created (so bad input fails before
the first byte is sent); ``tickets_csv`` reads the tickets batch by batch while it streams.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.models import Ticket, User, format_reference
from portal.services.reports.decisions import TARGETS
from portal.services.reports.facts import PRIORITIES, ReportData
from portal.services.reports.gcpause import collector_paused
from portal.services.reports.people import agents
from portal.services.reports.periods import Period, iso
from portal.services.reports.rows import chunks
from portal.services.reports.team import summary

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
AGENT_COLUMNS = (
    "id",
    "name",
    "email",
    "role",
    "active",
    "resolved",
    "resolved_per_day",
    "avg_resolution_minutes",
    "fcr_rate",
    "first_responses",
    "avg_first_response_minutes",
    "sla_met",
    "sla_breached",
    "sla_compliance",
    "csat_average",
    "csat_responses",
    "escalations_made",
    "kb_contributions",
)
TICKET_COLUMNS = ("reference", "subject", "status", "priority", "created_at", "assignee")
TICKET_BATCH = 500


def safe_cell(value: Any) -> Any:
    """A value as a CSV cell that no spreadsheet runs as a formula: numbers stay numbers, None is empty, booleans
    are true/false, instants ISO 8601 UTC, and text starting with = + - @ tab or CR gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return iso(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def line(cells: Iterable[Any]) -> str:
    """One CSV line (CRLF-terminated) of safe cells."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([safe_cell(c) for c in cells])
    return buffer.getvalue()


def _data(period: Period | ReportData, now: datetime | None) -> ReportData:
    return period if isinstance(period, ReportData) else ReportData(period, now)


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted name, scalar) pairs of a nested dict; lists are left out (they have tables of their own)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif not isinstance(value, list):
        yield prefix, value


def summary_rows(figures: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    yield from flatten({k: v for k, v in figures.items() if k != "kb_contributions"})
    kb = figures["kb_contributions"]
    for key in ("total", "published", "updated"):
        yield f"kb_contributions.{key}", kb[key]
    for author in kb["by_author"]:
        label = f"{author['name']} (#{author['id']})" if author["id"] is not None else "deleted user"
        yield f"kb_contributions.by_author.{label}", author["count"]


@collector_paused
def summary_csv(period: Period | ReportData, now: datetime | None = None) -> Iterator[str]:
    """The team summary as (figure, value) lines: the period, every figure by its dotted name
    (``response_sla.rate``, ``sla_violations.critical.resolution``, ...) and the KB contributions per author."""
    figures = summary(_data(period, now))

    def generate() -> Iterator[str]:
        yield line(("figure", "value"))
        for name, value in summary_rows(figures):
            yield line((name, value))

    return generate()


@collector_paused
def violations_csv(period: Period | ReportData, now: datetime | None = None) -> Iterator[str]:
    """SLA violations: one line per priority with its first-response and resolution breaches, then the totals."""
    table = summary(_data(period, now))["sla_violations"]

    def generate() -> Iterator[str]:
        yield line(("priority", *TARGETS, "total"))
        for priority in PRIORITIES:
            row = table[priority]
            yield line((priority, *(row[t] for t in TARGETS), sum(row.values())))
        yield line(("total", *(sum(table[p][t] for p in PRIORITIES) for t in TARGETS), None))

    return generate()


@collector_paused
def agents_csv(period: Period | ReportData, now: datetime | None = None) -> Iterator[str]:
    """The agents report: one line per staff member, the columns of ``AGENT_COLUMNS``."""
    rows = agents(_data(period, now))

    def generate() -> Iterator[str]:
        yield line(AGENT_COLUMNS)
        for row in rows:
            yield line(row[c] for c in AGENT_COLUMNS)

    return generate()


def _ticket_rows(ids: list[int]) -> dict[int, tuple]:
    found: dict[int, tuple] = {}
    for part in chunks(ids):
        rows = db.session.execute(
            select(Ticket.id, Ticket.subject, Ticket.status, Ticket.priority, Ticket.created_at, User.name)
            .outerjoin(User, User.id == Ticket.assignee_id)
            .where(Ticket.id.in_(part))
        ).all()
        found.update((row[0], row) for row in rows)
    return found


def tickets_csv(ids: Iterable[int]) -> Iterator[str]:
    """The tickets of a drill-down list, in the order given (a repeated id gives a repeated line)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    ordered = list(ids)

    def generate() -> Iterator[str]:
        yield line(TICKET_COLUMNS)
        for start in range(0, len(ordered), TICKET_BATCH):
            batch = ordered[start : start + TICKET_BATCH]
            with app.app_context():
                found = _ticket_rows(batch)
            for ticket_id in batch:
                row = found.get(ticket_id)
                if row is not None:
                    _id, subject, status, priority, created_at, assignee = row
                    yield line(
                        (format_reference(ticket_id), subject, status.value, priority.value, created_at, assignee)
                    )

    return generate()
