"""Sign in, sign out, sign up and the profile page (time zone, password, API tokens)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from portal.blueprints.auth.forms import LoginForm, PasswordForm, ProfileForm, SignupForm, TokenForm
from portal.blueprints.common import attempt, show_errors
from portal.extensions import db, limiter
from portal.models import ApiToken
from portal.services import accounts
from portal.services.errors import ValidationFailed

SIGNUP_DONE = (
    "Thank you. If your email domain belongs to a customer organization you can sign in now; "
    "otherwise our team will approve your account shortly."
)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _safe_next(target: str | None) -> str | None:
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
            return redirect(_safe_next(request.args.get("next")) or url_for("main.index"))
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


@limiter.limit(_login_limit, methods=["POST"])
def signup():
    form = SignupForm()
    if not form.validate_on_submit():
        return render_template("auth/signup.html", form=form), (422 if form.errors else 200)
    _user, refused = attempt(
        lambda: accounts.register_customer(
            name=form.name.data,
            email=form.email.data,
            password=form.password.data,
            timezone=form.timezone.data or "UTC",
        )
    )
    if refused is not None:
        show_errors(form, refused)
        return render_template("auth/signup.html", form=form), 422
    flash(SIGNUP_DONE, "success")  # the same answer whether or not the address already had an account
    return redirect(url_for("auth.login"))


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
    return _render_profile(form=form, status=422 if form.errors else 200)


@login_required
def change_password():
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(current_user, form.current_password.data, form.new_password.data)
        except ValidationFailed as exc:
            for name, message in exc.fields.items():
                getattr(form, name).errors = [message]
            return _render_profile(password_form=form, status=422)
        flash("Password changed.", "success")
        return redirect(url_for("auth.profile"))
    return _render_profile(password_form=form, status=422)


@login_required
def create_token():
    form = TokenForm()
    if not form.validate_on_submit():
        return _render_profile(token_form=form, status=422)
    _token, plain = accounts.create_api_token(current_user, form.name.data)
    return _render_profile(new_token=plain)


@login_required
def revoke_token(token_id: int):
    accounts.revoke_api_token(current_user, token_id)
    flash("Token revoked.", "success")
    return redirect(url_for("auth.profile"))


def _render_profile(*, form=None, password_form=None, token_form=None, new_token=None, status=200):
    tokens = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == current_user.id, ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)
    ).all()
    return render_template(
        "auth/profile.html",
        form=form or ProfileForm(obj=current_user),
        password_form=password_form or PasswordForm(),
        token_form=token_form or TokenForm(),
        tokens=tokens,
        new_token=new_token,
    ), status
