"""Profile: which notification emails the signed-in user receives."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from portal.services import notifications


@login_required
def save_notifications():
    form = FlaskForm()  # CSRF only; the checkboxes are plain inputs
    if not form.validate_on_submit():
        flash("Your notification settings were not saved: the form expired, please try again.", "error")
        return redirect(url_for("auth.profile"), 303)
    names = [name for name, _label, _on in notifications.preference_rows(current_user)]
    notifications.save_preferences(current_user, {name: name in request.form for name in names})
    flash("Notification settings saved.", "success")
    return redirect(url_for("auth.profile") + "#notifications-h", 303)
