"""Operations: who is on shift now (staff), roster editing (admins and managers), and escalation from the ticket
page."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.common import admin_required, staff_required
from portal.extensions import db, htmx
from portal.models import OnCall, TimeOff
from portal.services import escalation, roster
from portal.services import tickets as ticket_service
from portal.services.access import get_ticket_for, visible_events
from portal.services.errors import Conflict, Forbidden, ValidationFailed
from portal.services.queries import active_categories, assignable_staff


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
    try:
        shift = roster.save_shift(
            request.form.get("region", ""), request.form.get("start", ""), request.form.get("end", "")
        )
    except ValidationFailed as exc:
        db.session.rollback()
        return _render_manage(exc.fields, 422)
    return _saved(f"{shift.region.value} shift is now {shift.label}.")


@admin_required
def set_away(user_id: int):
    user = roster.staff_member(user_id)
    roster.set_away(user, request.form.get("away") == "1")
    return _saved(f"{user.name} is {'away' if request.form.get('away') == '1' else 'available'}.")


@admin_required
def add_time_off():
    try:
        roster.add_time_off(
            request.form.get("user_id"),
            request.form.get("starts_at", ""),
            request.form.get("ends_at", ""),
            request.form.get("note", ""),
            zone=current_user.timezone,
        )
    except ValidationFailed as exc:
        db.session.rollback()
        return _render_manage(exc.fields, 422)
    return _saved("Time off added.")


@admin_required
def add_on_call():
    try:
        roster.add_on_call(
            request.form.get("user_id"),
            request.form.get("starts_at", ""),
            request.form.get("ends_at", ""),
            zone=current_user.timezone,
        )
    except ValidationFailed as exc:
        db.session.rollback()
        return _render_manage(exc.fields, 422)
    return _saved("On-call entry added.")


@admin_required
def delete_entry(kind: str, entry_id: int):
    model = {"time-off": TimeOff, "on-call": OnCall}.get(kind)
    if model is None:
        return _render_manage({"form": "Unknown kind of entry."}, 404)
    roster.delete_entry(model, entry_id)
    return _saved("Entry removed.")


@staff_required
def escalate(reference: str):
    ticket = get_ticket_for(current_user, reference)
    errors = {}
    try:
        escalation.escalate(
            current_user,
            ticket,
            to_tier=request.form.get("to_tier", ""),
            reason=request.form.get("reason", ""),
            external_ref=request.form.get("external_ref"),
            expected_version=request.form.get("version"),
        )
    except (ValidationFailed, Forbidden, Conflict) as exc:
        db.session.rollback()
        ticket = get_ticket_for(current_user, reference)
        errors, status = (exc.fields or {"form": exc.message}), exc.status_code
    else:
        status = 200
    if not htmx:
        if errors:
            flash("Not escalated: " + " ".join(errors.values()), "error")
        return redirect(url_for("agent.ticket", reference=ticket.reference), 303)
    return render_template(
        "ops/partials/_escalate_update.html",
        ticket=ticket,
        escalate_errors=errors,
        events=visible_events(current_user, ticket),
        allowed=ticket_service.allowed_statuses(current_user, ticket),
        categories=active_categories(),
        staff=assignable_staff(),
        conflict=None,
        errors={},
    ), status
