"""Profile: which notification emails the signed-in user receives."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from portal.blueprints.auth.routes import bp
from portal.models.notifications import PREFERENCE_FIELDS
from portal.services import notifications

# What each role can receive (customers get ticket updates only).
_STAFF_ONLY = {"email_assignments", "email_sla_alerts", "email_escalations", "email_handover"}


def preference_rows() -> list[tuple[str, str, bool]]:
    """(name, label, on) for the signed-in user: the profile partial renders these."""
    prefs = notifications.preferences_for(current_user)
    return [
        (name, label, bool(getattr(prefs, name)))
        for name, label in PREFERENCE_FIELDS
        if current_user.is_staff or name not in _STAFF_ONLY
    ]


@bp.app_context_processor
def _notification_settings():
    return {"notification_preference_rows": preference_rows}


@bp.post("/profile/notifications")
@login_required
def save_notifications():
    form = FlaskForm()  # CSRF only; the checkboxes are plain inputs
    if not form.validate_on_submit():
        flash("Your notification settings were not saved: the form expired, please try again.", "error")
        return redirect(url_for("auth.profile"), 303)
    names = [name for name, _label, _on in preference_rows()]
    notifications.save_preferences(current_user, {name: name in request.form for name in names})
    flash("Notification settings saved.", "success")
    return redirect(url_for("auth.profile") + "#notifications-h", 303)
