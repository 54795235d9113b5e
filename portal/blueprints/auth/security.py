"""Two-factor authentication (enrolment, second step at sign-in, recovery codes) and active sessions.

``init_app`` installs the enrolment gate: someone whose role requires a second factor but who has not set one up
is signed in after the password, yet every page, partial and htmx request except the enrolment page, sign-out,
static files and the health check sends them to enrolment. The JSON API (bearer tokens) is not gated.
"""

from __future__ import annotations

from flask import Flask, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, logout_user
from werkzeug.security import check_password_hash

from portal.blueprints.auth.forms import RecoveryCodesForm, TwoFactorDisableForm, TwoFactorEnableForm
from portal.blueprints.auth.routes import render_profile
from portal.extensions import db, htmx
from portal.services import audit, sessions, throttle, twofactor

# What someone who must still enrol may reach.
GATE_OPEN_ENDPOINTS = frozenset({"auth.two_factor_setup", "auth.logout", "static", "main.healthz", "main.favicon"})
GATE_OPEN_BLUEPRINTS = frozenset({"api"})
WRONG_CODE = "That code is not valid (codes work once). Wait for the next code and try again."


def init_app(app: Flask) -> None:
    @app.before_request
    def _two_factor_gate():
        if request.endpoint in GATE_OPEN_ENDPOINTS or request.blueprint in GATE_OPEN_BLUEPRINTS:
            return None
        if not current_user.is_authenticated or not twofactor.is_required(current_user):
            return None
        if not current_user.has_two_factor:
            if request.method == "GET" and not htmx:
                flash("Your role requires two-factor authentication: set it up to continue.", "info")
            return _navigate(app, url_for("auth.two_factor_setup"))
        row = sessions.current()
        if row is None or row.two_factor_at is not None:
            return None
        # Signed in with the password alone before the second factor was set up (in another browser): this session
        # never passed it, so it ends here.
        sessions.end_current()
        logout_user()
        session.clear()
        flash("Please sign in again, with your second factor.", "info")
        return _navigate(app, url_for("auth.login"))


def _navigate(app: Flask, target: str):
    """Send the browser to ``target``: htmx requests (partials, boosted links and forms) with HX-Redirect, so the
    whole page is loaded and nothing swapped in; others with a redirect."""
    if htmx:
        response = app.make_response(("", 200))
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


def _setup_page(form: TwoFactorEnableForm, status: int = 200):
    secret = twofactor.pending_secret(current_user)
    uri = twofactor.provisioning_uri(current_user, secret)
    return render_template(
        "auth/two_factor_setup.html",
        form=form,
        secret=twofactor.grouped(secret),
        qr=twofactor.qr_data_uri(uri),
        required=twofactor.is_required(current_user),
    ), status


def _codes_page(codes: list[str], heading: str):
    return render_template("auth/two_factor_codes.html", codes=codes, heading=heading)


@login_required
def two_factor_setup():
    """Set up an authenticator app: the secret (text and QR code), then a first code to confirm it."""
    if current_user.has_two_factor:
        if request.method == "POST":
            flash("Two-factor authentication is already on.", "info")
        return redirect(url_for("auth.profile"))
    form = TwoFactorEnableForm()
    if not form.validate_on_submit():
        return _setup_page(form, 422 if form.errors else 200)
    codes = twofactor.enable(current_user, form.code.data)
    if codes is None:
        form.code.errors = [WRONG_CODE]
        return _setup_page(form, 422)
    sessions.passed_two_factor()
    return _codes_page(codes, "Two-factor authentication is on")


def _refused(form, form_key: str):
    """Why ``form`` (password and/or a current code) does not confirm a change, as the profile page to answer
    with; None when it does. Wrong passwords and codes are counted per account (the sign-in's second-factor
    throttle), so a borrowed session cannot guess either; wrong codes are audited as at sign-in."""
    user, key = current_user, str(current_user.id)
    wait = throttle.retry_after("two_factor", key)
    if wait:
        form.code.errors = ["Too many wrong passwords or codes: try again in a few minutes."]
        body, _status = render_profile(**{form_key: form})
        return body, 429, {"Retry-After": str(wait)}
    if "password" in form and not check_password_hash(user.password_hash, form.password.data or ""):
        form.password.errors = ["This is not your password."]
    elif twofactor.verify_code(user, form.code.data):
        throttle.clear("two_factor", key)
        return None
    else:
        form.code.errors = [WRONG_CODE]
        audit.record("auth.two_factor_failed", target=user, actor=user, detail="wrong code on the profile page")
    throttle.hit("two_factor", key)
    db.session.commit()  # the refusal is an error answer, which rolls back
    return render_profile(status=422, **{form_key: form})


@login_required
def two_factor_disable():
    form = TwoFactorDisableForm()
    if not current_user.has_two_factor:
        flash("Two-factor authentication is already off.", "info")
        return redirect(url_for("auth.profile"), 303)
    if not form.validate_on_submit():
        return render_profile(two_factor_disable_form=form, status=422)
    refused = _refused(form, "two_factor_disable_form")
    if refused is not None:
        return refused
    twofactor.disable(current_user)
    flash("Two-factor authentication is off.", "success")
    if twofactor.is_required(current_user):
        flash("Your role requires it: set it up again with your new device.", "info")
        return redirect(url_for("auth.two_factor_setup"), 303)
    return redirect(url_for("auth.profile"), 303)


@login_required
def regenerate_recovery_codes():
    form = RecoveryCodesForm()
    if not current_user.has_two_factor:
        flash("Turn two-factor authentication on first.", "info")
        return redirect(url_for("auth.profile"), 303)
    if not form.validate_on_submit():
        return render_profile(recovery_codes_form=form, status=422)
    refused = _refused(form, "recovery_codes_form")
    if refused is not None:
        return refused
    codes = twofactor.regenerate_recovery_codes(current_user)
    return _codes_page(codes, "New recovery codes")
