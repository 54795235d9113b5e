"""The profile page: details (name, time zone), address, password; other sections come from their modules."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from portal.blueprints.auth import security_section, tokens_section
from portal.blueprints.auth.forms import EmailChangeForm, PasswordForm, ProfileForm
from portal.services import account_flows, accounts, sessions
from portal.services.errors import ValidationFailed


@login_required
def profile():
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        errors: dict[str, str] = {}
        zone = accounts.validate_timezone(form.timezone.data, errors)
        if errors:
            form.timezone.errors = [errors["timezone"]]
        else:
            current_user.name, current_user.timezone = form.name.data.strip(), zone
            flash("Profile saved.", "success")
            return redirect(url_for("auth.profile"))
    return render_profile(form=form, status=422 if form.errors else 200)


@login_required
def change_password():
    """The password policy applies; the change is audited, dated, and ends every outstanding reset link."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(current_user, form.current_password.data, form.new_password.data)
        except ValidationFailed as exc:
            for name, message in exc.fields.items():
                getattr(form, name).errors = [message]
            return render_profile(password_form=form, status=422)
        ended = sessions.end_all(current_user, except_current=True, reason="password changed")
        flash("Password changed." + (" Your other sessions were signed out." if ended else ""), "success")
        return redirect(url_for("auth.profile"))
    return render_profile(password_form=form, status=422)


def render_profile(*, form=None, password_form=None, token_form=None, new_token=None, status=200, **sections):
    """The profile page; ``sections`` pass a section's own form state (with errors) back to its include."""
    context = {
        "form": form or ProfileForm(obj=current_user),
        "password_form": password_form or PasswordForm(),
        # The address section (_profile_email.html; the change is requested and confirmed in signup.py).
        "email_form": EmailChangeForm(),
        "pending_email_change": account_flows.pending_email_change(current_user),
        "email_throttled": None,
        **tokens_section.profile_context(token_form=token_form, new_token=new_token),
        **security_section.profile_context(),
    }
    context.update(sections)
    return render_template("auth/profile.html", **context), status
