"""Sign in and sign out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from portal.blueprints.auth.forms import LoginForm
from portal.extensions import limiter
from portal.services import accounts


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None (never an open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@limiter.limit(_login_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is not None and user.is_active:
            login_user(user)
            accounts.record_login(user)
            return redirect(safe_next(request.args.get("next")) or url_for("main.index"))
        if user is not None and not user.is_approved and user.is_active_account:
            form.form_errors.append("Your account is waiting for approval by our support team.")
        else:
            form.form_errors.append("Invalid email or password.")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


def logout():
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
