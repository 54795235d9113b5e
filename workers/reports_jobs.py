"""Scheduled report emails: the daily, weekly and monthly summaries for the active managers.

``schedule_report_emails`` (periodic, every 15 minutes) writes one outbox row ``notify.report_summary`` per report
that has ended and not been sent yet — yesterday, last ISO week, last month, in ``REPORT_TIMEZONE`` — with the dedupe
key ``report-email:<kind>:<from>:<zone>``, so however often it runs (a retry, two schedulers) each report goes out
once. The handler emails every active manager the figures of ``portal.services.reports.summary`` for that period —
the same call the report page makes — and a link to the page; ``_email`` sends once per outbox row and recipient.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app, url_for

from portal.extensions import db
from portal.models import utcnow
from portal.services import outbox, reports
from portal.services.reports.periods import Period, zone
from workers.context import job_context
from workers.notify import _email, _managers
from workers.registry import handler
from workers.runner import PermanentFailure

KIND = "notify.report_summary"
REPORTS = {"day": "Daily", "week": "Weekly", "month": "Monthly"}


def ended_periods(now: datetime, tz_name: str | None = None) -> list[tuple[str, Period]]:
    """The last day, ISO week and month that ended before ``now`` in the reporting zone (default
    ``REPORT_TIMEZONE``)."""
    tz = zone(tz_name)
    today = now.astimezone(tz).date()
    yesterday = today - timedelta(days=1)
    last_week = Period.iso_week(today, tz).start_date - timedelta(days=1)
    last_month = today.replace(day=1) - timedelta(days=1)
    return [
        ("day", Period.day(yesterday, tz)),
        ("week", Period.iso_week(last_week, tz)),
        ("month", Period.month(last_month, tz)),
    ]


def dedupe_key(kind: str, period: Period) -> str:
    return f"report-email:{kind}:{period.start_date.isoformat()}:{period.zone_name}"


def queue_report_emails(now: datetime | None = None) -> int:
    """Write the outbox rows of the reports that ended and were not queued yet; returns how many are new. Flushes,
    never commits (the job commits)."""
    new = 0
    for kind, period in ended_periods(now or utcnow()):
        key = dedupe_key(kind, period)
        message = outbox.emit(
            KIND,
            {
                "kind": kind,
                "from": period.start_date.isoformat(),
                "to": period.end_date.isoformat(),
                "tz": period.zone_name,
            },
            dedupe_key=key,
        )
        new += message.id is None
    db.session.flush()
    return new


def schedule_report_emails():
    """The periodic task (every 15 minutes; idempotent)."""
    with job_context():
        queued = queue_report_emails()
        db.session.commit()
        return queued


def _period(payload: dict[str, Any]) -> tuple[str, Period]:
    kind = payload.get("kind")
    if kind not in REPORTS:
        raise PermanentFailure(f"unknown report kind {kind!r}")
    return kind, Period(date.fromisoformat(payload["from"]), date.fromisoformat(payload["to"]), payload.get("tz"))


def report_url(kind: str, period: Period) -> str:
    with current_app.test_request_context(base_url=current_app.config["PORTAL_URL"]):
        return url_for(
            "reports.index", period=kind, date=period.start_date.isoformat(), tz=period.zone_name, _external=True
        )


def subject(kind: str, period: Period) -> str:
    last = period.end_date - timedelta(days=1)
    if kind == "day":
        span = period.start_date.strftime("%A %-d %B %Y")
    elif kind == "month":
        span = period.start_date.strftime("%B %Y")
    else:
        span = f"{period.start_date:%-d %b} to {last:%-d %b %Y}"
    return f"{REPORTS[kind]} report: {span}"


@handler(KIND)
def report_summary(payload: dict[str, Any], message_id: int) -> None:
    kind, period = _period(payload)
    figures = reports.summary(period)
    link = report_url(kind, period)
    for user in _managers():
        if user.email:
            _email(
                message_id,
                KIND,
                user,
                "report_summary",
                subject(kind, period),
                report_kind=kind,
                label=REPORTS[kind],
                period=period,
                figures=figures,
                report_url=link,
            )
