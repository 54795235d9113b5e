"""Admin: SLA policies (the default one and organization overrides) and business-hours calendars."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.common import admin_required
from portal.extensions import db
from portal.models import Priority
from portal.services import sla_admin
from portal.services.errors import ValidationFailed


def _policy_data() -> dict:
    return {**request.form.to_dict(), "pause_statuses": request.form.getlist("pause_statuses")}


def _calendar_data() -> dict:
    return request.form.to_dict()


@admin_required
def sla():
    default = sla_admin.default_policy()
    return render_template(
        "admin/sla/index.html",
        default=default,
        targets=sla_admin.targets_of(default),
        overrides=sla_admin.organization_policies(),
        calendars=sla_admin.list_calendars(),
        can_add_override=bool(sla_admin.organizations_without_policy()),
        format_hours=sla_admin.format_hours,
    )


@admin_required
def sla_default_policy():
    if request.method == "POST":
        try:
            sla_admin.save_default_policy(current_user, _policy_data())
        except ValidationFailed as exc:
            return _render_policy(None, _policy_data(), exc, is_default=True)
        return _saved("The default SLA policy is saved. It applies to tickets created or re-targeted from now on.")
    return _render_policy(None, sla_admin.policy_form_values(sla_admin.default_policy()), is_default=True)


@admin_required
def sla_new_policy():
    if request.method == "POST":
        try:
            policy = sla_admin.create_organization_policy(
                current_user, request.form.get("organization_id"), _policy_data()
            )
        except ValidationFailed as exc:
            return _render_policy(None, _policy_data(), exc)
        return _saved(f"Policy {policy.name} is saved for its organization's new tickets.")
    values = {**sla_admin.policy_form_values(sla_admin.default_policy()), "name": ""}
    return _render_policy(None, values)


@admin_required
def sla_policy(policy_id: int):
    policy = sla_admin.get_policy(policy_id)
    if request.method == "POST":
        try:
            sla_admin.update_policy(current_user, policy, _policy_data())
        except ValidationFailed as exc:
            return _render_policy(policy, _policy_data(), exc, is_default=policy.organization_id is None)
        return _saved(f"Policy {policy.name} is saved. It applies to tickets created or re-targeted from now on.")
    return _render_policy(policy, sla_admin.policy_form_values(policy), is_default=policy.organization_id is None)


@admin_required
def sla_delete_policy(policy_id: int):
    policy = sla_admin.get_policy(policy_id)
    try:
        sla_admin.delete_organization_policy(current_user, policy)
    except ValidationFailed as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.sla"), 303)
    return _saved("The organization's policy is removed; its new tickets follow the default policy.")


@admin_required
def sla_new_calendar():
    if request.method == "POST":
        try:
            calendar = sla_admin.save_calendar(current_user, None, _calendar_data())
        except ValidationFailed as exc:
            return _render_calendar(None, _calendar_data(), exc)
        return _saved(f"Calendar {calendar.name} is saved.")
    return _render_calendar(None, sla_admin.calendar_form_values(None))


@admin_required
def sla_calendar(calendar_id: int):
    calendar = sla_admin.get_calendar(calendar_id)
    if request.method == "POST":
        try:
            sla_admin.save_calendar(current_user, calendar, _calendar_data())
        except ValidationFailed as exc:
            return _render_calendar(calendar, _calendar_data(), exc)
        return _saved(f"Calendar {calendar.name} is saved.")
    return _render_calendar(calendar, sla_admin.calendar_form_values(calendar))


# --------------------------------------------------------------------------- helpers


def _saved(message: str):
    flash(message, "success")
    return redirect(url_for("admin.sla"), 303)


def _render_policy(policy, values: dict, exc: ValidationFailed | None = None, *, is_default: bool = False):
    if exc is not None:
        db.session.rollback()  # nothing was changed; start the page from a clean session
    return render_template(
        "admin/sla/policy.html",
        policy=policy,
        values=values,
        is_default=is_default,
        organization=sla_admin.organization_of(policy),
        errors=exc.fields if exc else {},
        priorities=list(Priority),
        pausable=sla_admin.PAUSABLE_STATUSES,
        calendars=sla_admin.list_calendars(),
        organizations=sla_admin.organizations_without_policy() if policy is None else [],
    ), 422 if exc else 200


def _render_calendar(calendar, values: dict, exc: ValidationFailed | None = None):
    if exc is not None:
        db.session.rollback()
    return render_template(
        "admin/sla/calendar.html",
        calendar=calendar,
        values=values,
        errors=exc.fields if exc else {},
        weekdays=sla_admin.WEEKDAY_LABELS,
        zones=sla_admin.timezone_choices(),
    ), 422 if exc else 200
