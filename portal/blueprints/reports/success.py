"""The go-live success criteria (managers and admins) and the admins' go-live date form."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.common import admin_required, attempt, roles_required
from portal.models import Role
from portal.services import reports, success
from portal.services.reports.periods import Period, zone


def _summary_of(start: date, end: date, tz: ZoneInfo, now: datetime) -> dict:
    return reports.summary(Period(start, end, tz), now)


def _render(errors: dict | None = None, value: str | None = None, status: int = 200):
    go_live, source = success.go_live_date()
    tz = zone(None)
    checkpoints = success.checkpoints(go_live, _summary_of, tz) if go_live else []
    return render_template(
        "reports/success.html",
        go_live=go_live,
        source=source,
        zone_name=tz.key,
        checkpoints=checkpoints,
        topics=success.KB_TOPICS,
        errors=errors or {},
        value=go_live.isoformat() if value is None and go_live else (value or ""),
    ), status


@admin_required
def page():
    return _render()


@roles_required(Role.admin)
def save_go_live():
    value = request.form.get("go_live_date", "")
    saved, refused = attempt(lambda: success.set_go_live_date(current_user, value))
    if refused is not None:
        return _render(refused.fields or {"go_live_date": refused.message}, value, 422)
    flash(
        f"Go-live date set to {saved.isoformat()}." if saved else "Go-live date reset to the configured one.", "success"
    )
    return redirect(url_for("reports.success"), 303)
