"""Admin: the audit log (admins only). Read-only: filtered by action, actor, target, date range (in the viewer's time
zone) and client address, newest first, a page at a time, and the same selection as a streamed, formula-safe CSV —
whose download is itself audited. Nothing here writes anything else: there is no POST route.

Filters come from the query string and are parsed strictly: a value that is not understood is a 422 naming the
filter, never a 500 and never silently ignored (an audit search that quietly widens would mislead).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Response, current_app, render_template, request, url_for
from sqlalchemy import and_, func, or_, select

from portal.blueprints.common import roles_required
from portal.extensions import db, htmx
from portal.models import AuditEntry, Role, utcnow
from portal.params import MAX_PAGE, parse_date, parse_int
from portal.services import audit
from portal.services.reports.export import line
from portal.timezones import viewer_zone

admin_only = roles_required(Role.admin)

PAGE_SIZE = 50
CSV_BATCH = 500
SHOWN_VALUE_MAX = 300  # characters of one before/after value on the page (the CSV has them whole)
TYPE_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
ADDRESS_RE = re.compile(r"[0-9A-Fa-f:.]{1,45}")
TEXT_MAX = 254
GROUP_LABELS = {
    "auth": "Sign-in",
    "account": "Accounts",
    "two_factor": "Two-factor",
    "token": "API tokens",
    "user": "Users",
    "organization": "Organizations",
    "settings": "Settings",
    "export": "Exports",
    "report": "Reports",
    "kb": "Knowledge base",
    "mail": "Mail",
}
CSV_COLUMNS = (
    "at",
    "actor",
    "actor_id",
    "action",
    "action_label",
    "target_type",
    "target_id",
    "target_label",
    "changes",
    "before",
    "after",
    "detail",
    "ip",
    "request_id",
)


# --------------------------------------------------------------------------- actions, grouped for the filter


def action_groups() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(group key, group label, [(action, label), ...]) in the order of ``audit.ACTIONS``."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for action, label in audit.ACTIONS.items():
        groups.setdefault(action.split(".", 1)[0], []).append((action, label))
    return [(key, GROUP_LABELS.get(key, key.replace("_", " ").title()), items) for key, items in groups.items()]


def action_label(action: str) -> str:
    return audit.ACTIONS.get(action, action)


# --------------------------------------------------------------------------- filters


@dataclass
class AuditFilters:
    """The filters as typed (for the form and the links) and the SQL conditions they mean."""

    action: str = ""
    actor: str = ""
    target_type: str = ""
    target: str = ""
    date_from: str = ""
    date_to: str = ""
    ip: str = ""
    page: int = 1
    errors: dict[str, str] = field(default_factory=dict)
    conditions: list = field(default_factory=list)

    def query_args(self) -> dict[str, str]:
        """The non-empty filters (no page), e.g. for the CSV link and the export's audit row."""
        names = ("action", "actor", "target_type", "target", "date_from", "date_to", "ip")
        return {name: getattr(self, name) for name in names if getattr(self, name)}


def _text(args: Mapping[str, str], name: str) -> str:
    return " ".join(str(args.get(name, "") or "").split())


def _page(raw: str, errors: dict[str, str]) -> int:
    if not raw.strip():
        return 1
    number = parse_int(raw, min=1, max=MAX_PAGE)  # ASCII digits only, bounded
    if number is not None:
        return number
    errors["page"] = f"The page must be a whole number from 1 to {MAX_PAGE:,}."
    return 1


def _local_day(raw: str, name: str, errors: dict[str, str]) -> date | None:
    if not raw:
        return None
    day = parse_date(raw)
    if day is None or not 1970 <= day.year <= 2999:
        errors[name] = "Enter a date as YYYY-MM-DD (years 1970 to 2999)."
        return None
    return day


def _utc_midnight(day: date, zone) -> datetime:
    """The instant the viewer's local ``day`` starts, in UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def parse_filters(args: Mapping[str, str], zone) -> AuditFilters:
    """The filters of a query string. Dates are days in the viewer's zone ``zone``; "to" includes its whole day."""
    errors: dict[str, str] = {}
    f = AuditFilters(
        action=_text(args, "action"),
        actor=_text(args, "actor")[: TEXT_MAX + 1],
        target_type=_text(args, "target_type"),
        target=_text(args, "target")[: TEXT_MAX + 1],
        date_from=_text(args, "date_from"),
        date_to=_text(args, "date_to"),
        ip=_text(args, "ip"),
        errors=errors,
    )
    f.page = _page(str(args.get("page", "") or ""), errors)
    conditions = f.conditions
    if f.action:
        group = f.action[:-2] if f.action.endswith(".*") else None
        if group is not None and any(a.split(".", 1)[0] == group for a in audit.ACTIONS):
            conditions.append(AuditEntry.action.startswith(group + ".", autoescape=True))
        elif group is None and f.action in audit.ACTIONS:
            conditions.append(AuditEntry.action == f.action)
        else:
            errors["action"] = "Choose an action from the list."
    for name, value in (("actor", f.actor), ("target", f.target)):
        if len(value) > TEXT_MAX:
            errors[name] = f"Use at most {TEXT_MAX} characters."
    if f.actor and "actor" not in errors:
        conditions.append(func.lower(AuditEntry.actor_label).contains(f.actor.lower(), autoescape=True))
    if f.target_type:
        if TYPE_RE.fullmatch(f.target_type):
            conditions.append(AuditEntry.target_type == f.target_type)
        else:
            errors["target_type"] = "Choose a kind of target from the list."
    if f.target and "target" not in errors:
        conditions.append(
            or_(
                AuditEntry.target_id == f.target,
                func.lower(AuditEntry.target_label).contains(f.target.lower(), autoescape=True),
            )
        )
    start = _local_day(f.date_from, "date_from", errors)
    end = _local_day(f.date_to, "date_to", errors)
    if start and end and end < start:
        errors["date_to"] = "The end date must not be before the start date."
    elif not errors.keys() & {"date_from", "date_to"}:
        if start:
            conditions.append(AuditEntry.at >= _utc_midnight(start, zone))
        if end:
            conditions.append(AuditEntry.at < _utc_midnight(end + timedelta(days=1), zone))
    if f.ip:
        if ADDRESS_RE.fullmatch(f.ip):
            conditions.append(AuditEntry.ip.startswith(f.ip.lower(), autoescape=True))
        else:
            errors["ip"] = "Enter an IP address or its beginning (digits, a-f, dots and colons)."
    return f


def _newest_first(stmt):
    return stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


# --------------------------------------------------------------------------- before → after


def _shown(value: Any, limit: int | None = None) -> str:
    """One before/after value as text: strings as they are, anything else as JSON (the template escapes it)."""
    if value is None:
        return "—"
    text = value if isinstance(value, str) and value else json.dumps(value, ensure_ascii=False, sort_keys=True)
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def diff(entry: AuditEntry, limit: int | None = SHOWN_VALUE_MAX) -> list[tuple[str, str, str]]:
    """(key, old, new) for every key of the row's before or after, in the order they were recorded."""
    before = entry.before if isinstance(entry.before, dict) else {}
    after = entry.after if isinstance(entry.after, dict) else {}
    keys = list(before) + [k for k in after if k not in before]
    return [(str(k), _shown(before.get(k), limit), _shown(after.get(k), limit)) for k in keys]


def changes_text(entry: AuditEntry) -> str:
    return "; ".join(f"{key}: {old} → {new}" for key, old, new in diff(entry, None))


@dataclass
class AuditRow:
    entry: AuditEntry
    label: str
    changes: list[tuple[str, str, str]]


@dataclass
class AuditPage:
    items: list[AuditRow]
    number: int
    size: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.number > 1


# --------------------------------------------------------------------------- views


def _target_types() -> list[str]:
    stmt = select(AuditEntry.target_type).where(AuditEntry.target_type.is_not(None)).distinct()
    return sorted(t for t in db.session.scalars(stmt.limit(200)) if t)


@admin_only
def audit_log():
    filters = parse_filters(request.args, viewer_zone())
    page = AuditPage([], filters.page, PAGE_SIZE, False)
    if not filters.errors:
        stmt = _newest_first(select(AuditEntry).where(*filters.conditions))
        rows = list(db.session.scalars(stmt.offset((filters.page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
        page = AuditPage(
            [AuditRow(e, action_label(e.action), diff(e)) for e in rows[:PAGE_SIZE]],
            filters.page,
            PAGE_SIZE,
            len(rows) > PAGE_SIZE,
        )
    partial = bool(htmx) and not htmx.boosted
    template = "admin/partials/_audit_rows.html" if partial else "admin/audit.html"
    body = render_template(
        template,
        page=page,
        filters=filters,
        groups=action_groups(),
        target_types=_target_types(),
        csv_url=_csv_url(filters),
    )
    return body, 422 if filters.errors else 200, {"Vary": "HX-Request", "Cache-Control": "no-store"}


def _csv_url(filters: AuditFilters) -> str:
    query = urlencode(filters.query_args())
    return url_for("admin.audit_csv") + (f"?{query}" if query else "")


@admin_only
def audit_csv():
    filters = parse_filters(request.args, viewer_zone())
    filters.errors.pop("page", None)  # the export has every page
    if filters.errors:
        message = "The audit log was not exported: " + " ".join(
            f"{name}: {text}" for name, text in sorted(filters.errors.items())
        )
        return message, 422, {"Content-Type": "text/plain; charset=utf-8"}
    # The rows that exist now (the export's own row, added below, is not part of it).
    upto = db.session.scalar(select(func.max(AuditEntry.id))) or 0
    described = urlencode(filters.query_args()) or "all rows"
    audit.record(
        "export.download",
        target_type="audit_log",
        target_label="Audit log (CSV)",
        detail=f"audit log CSV; filters: {described}",
    )
    now = utcnow()
    response = Response(_csv_lines(filters.conditions, upto), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="audit-log-{now:%Y%m%d-%H%M}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _csv_lines(conditions: list, upto: int) -> Iterator[str]:
    """The selected rows, newest first, read a batch at a time (keyset on instant and id), each batch in an
    application context of its own (the request's is gone while the body streams)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def generate() -> Iterator[str]:
        yield line(CSV_COLUMNS)
        last: tuple[datetime, int] | None = None
        while True:
            with app.app_context():
                stmt = select(AuditEntry).where(*conditions, AuditEntry.id <= upto)
                if last is not None:
                    stmt = stmt.where(
                        or_(AuditEntry.at < last[0], and_(AuditEntry.at == last[0], AuditEntry.id < last[1]))
                    )
                batch = list(db.session.scalars(_newest_first(stmt).limit(CSV_BATCH)))
                lines = [_csv_line(e) for e in batch]
                if batch:
                    last = (batch[-1].at, batch[-1].id)
            yield from lines
            if len(batch) < CSV_BATCH:
                return

    return generate()


def _csv_line(entry: AuditEntry) -> str:
    return line(
        (
            entry.at,
            entry.actor_label,
            entry.actor_id,
            entry.action,
            action_label(entry.action),
            entry.target_type,
            entry.target_id,
            entry.target_label,
            changes_text(entry),
            None if entry.before is None else json.dumps(entry.before, ensure_ascii=False, sort_keys=True),
            None if entry.after is None else json.dumps(entry.after, ensure_ascii=False, sort_keys=True),
            entry.detail,
            entry.ip,
            entry.request_id,
        )
    )
