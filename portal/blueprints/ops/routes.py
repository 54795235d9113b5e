"""Operations: who is on shift now (staff) and roster editing (admins and managers)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.common import admin_required, attempt, staff_required
from portal.models import OnCall, TimeOff
from portal.services import roster
from portal.services.queries import assignable_staff


@staff_required
def roster_page():
    return render_template("ops/roster.html", rows=roster.roster_now())


@admin_required
def manage():
    return _render_manage()


def _render_manage(errors: dict | None = None, status: int = 200):
    return render_template(
        "ops/manage.html",
        rows=roster.roster_now(),
        staff=assignable_staff(),
        time_off=roster.upcoming(TimeOff),
        on_call=roster.upcoming(OnCall),
        errors=errors or {},
    ), status


def _saved(message: str):
    flash(message, "success")
    return redirect(url_for("ops.manage"), 303)


@admin_required
def save_shift():
    shift, refused = attempt(
        lambda: roster.save_shift(
            request.form.get("region", ""), request.form.get("start", ""), request.form.get("end", "")
        )
    )
    if refused is not None:
        return _render_manage(refused.fields, refused.status_code)
    return _saved(f"{shift.region.value} shift is now {shift.label}.")


@admin_required
def set_away(user_id: int):
    user = roster.staff_member(user_id)
    roster.set_away(user, request.form.get("away") == "1")
    return _saved(f"{user.name} is {'away' if request.form.get('away') == '1' else 'available'}.")


@admin_required
def add_time_off():
    _entry, refused = attempt(
        lambda: roster.add_time_off(
            request.form.get("user_id"),
            request.form.get("starts_at", ""),
            request.form.get("ends_at", ""),
            request.form.get("note", ""),
            zone=current_user.timezone,
        )
    )
    if refused is not None:
        return _render_manage(refused.fields, refused.status_code)
    return _saved("Time off added.")


@admin_required
def add_on_call():
    _entry, refused = attempt(
        lambda: roster.add_on_call(
            request.form.get("user_id"),
            request.form.get("starts_at", ""),
            request.form.get("ends_at", ""),
            zone=current_user.timezone,
        )
    )
    if refused is not None:
        return _render_manage(refused.fields, refused.status_code)
    return _saved("On-call entry added.")


@admin_required
def delete_entry(kind: str, entry_id: int):
    model = {"time-off": TimeOff, "on-call": OnCall}.get(kind)
    if model is None:
        return _render_manage({"form": "Unknown kind of entry."}, 404)
    roster.delete_entry(model, entry_id)
    return _saved("Entry removed.")
