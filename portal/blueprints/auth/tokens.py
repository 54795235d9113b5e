"""API tokens on the profile page: create (scope and life chosen, the token shown once), list, revoke."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_login import current_user, login_required

from portal.blueprints.auth.forms import TokenForm
from portal.blueprints.auth.routes import render_profile
from portal.services import accounts
from portal.services.errors import ValidationFailed


@login_required
def create_token():
    form = TokenForm()
    if not form.validate_on_submit():
        return render_profile(token_form=form, status=422)
    try:
        _token, plain = accounts.create_api_token(
            current_user, form.name.data, scope=form.scope.data, days=form.days.data
        )
    except ValidationFailed as exc:
        for name, message in exc.fields.items():
            getattr(form, name).errors = [message]
        return render_profile(token_form=form, status=422)
    return render_profile(new_token=plain)


@login_required
def revoke_token(token_id: int):
    accounts.revoke_api_token(current_user, token_id)
    flash("Token revoked.", "success")
    return redirect(url_for("auth.profile"))
