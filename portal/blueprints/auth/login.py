"""Sign in (password, then the second factor when the account has one) and sign out.

Failed sign-ins are counted per account (the typed address, whether or not it exists) and per client address
(``portal.client.client_ip``: forwarded headers count only from trusted proxies). While either is over its limit the
answer is 429 with Retry-After and the password is not even checked. Every outcome is audited; a failure's row
names the reason, never the password.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from portal.blueprints.auth.forms import LoginForm, TwoFactorLoginForm
from portal.client import client_ip
from portal.extensions import db, limiter
from portal.models import User
from portal.services import accounts, audit, sessions, throttle, twofactor
from portal.services.errors import ValidationFailed

INVALID = "Invalid email or password."
# Between a correct password and the second factor: who, since when, where to go next (never signed in yet).
PENDING_KEY = "two_factor_pending"
PENDING_SECONDS = 300


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None (never an open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def account_key(email: str | None) -> str:
    """The per-account throttle key: the normalized address (also for addresses nobody has)."""
    try:
        return accounts.normalize_email(email or "")
    except ValidationFailed:
        return (email or "").strip().lower()


def _minutes(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return "a minute" if minutes == 1 else f"{minutes} minutes"


def _locked_response(template: str, form, wait: int, what: str):
    message = (
        f"Too many failed {what}. For your security, signing in to this account or from this network is paused: "
        f"try again in {_minutes(wait)}."
    )
    response = current_app.make_response((render_template(template, form=form, locked=message), 429))
    response.headers["Retry-After"] = str(wait)
    return response


def _sign_in_wait(key: str, address: str) -> int | None:
    waits = (throttle.retry_after("login_account", key), throttle.retry_after("login_address", address))
    return max((w for w in waits if w), default=None)


@limiter.limit(_login_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form), 422 if form.errors else 200
    key, address = account_key(form.email.data), client_ip()
    wait = _sign_in_wait(key, address)
    if wait:  # locked: answered before (and without) looking at the password, the same for every address
        return _locked_response("auth/login.html", form, wait, "sign-in attempts")
    user = accounts.authenticate(form.email.data, form.password.data)
    if user is None:
        known = accounts.find_user_by_email(form.email.data)
        return _refuse(form, known, key, address, "wrong password" if known else "unknown address")
    if not user.is_active_account:
        return _refuse(form, user, key, address, "account deactivated")
    if not user.is_verified:
        # The password was right: say what is missing (only someone who knows the password learns it).
        return _refuse(form, user, key, address, "address not verified", counted=False, unverified=True)
    if not user.is_approved:
        message = "Your account is waiting for approval by our support team."
        return _refuse(form, user, key, address, "waiting for approval", counted=False, message=message)
    next_path = safe_next(request.args.get("next"))
    if user.has_two_factor:
        session.clear()  # nothing from before the sign-in survives it
        session[PENDING_KEY] = {"user": user.id, "at": int(time.time()), "next": next_path, "key": key}
        return redirect(url_for("auth.two_factor_login"))
    complete_login(user, key=key, method="password", two_factor=False)
    if twofactor.needs_enrolment(user):
        flash("Your role requires two-factor authentication: set it up to continue.", "info")
        return redirect(url_for("auth.two_factor_setup"))
    return redirect(next_path or url_for("main.index"))


def _refuse(form, user: User | None, key: str, address: str, reason: str, *, counted=True, **shown):
    """A failed sign-in: audited (committed even though the answer is an error), counted, maybe a lockout."""
    label = None if user is not None else (key if "@" in key else None)
    audit.record("auth.login_failed", target=user, target_type="users", target_label=label, detail=reason, actor=None)
    if counted:
        throttle.hit("login_account", key)
        throttle.hit("login_address", address)
        wait = _sign_in_wait(key, address)
        if wait:
            _audit_lockout(user, key, address)
            db.session.commit()
            return _locked_response("auth/login.html", form, wait, "sign-in attempts")
    db.session.commit()
    if not shown.get("unverified"):
        form.form_errors.append(shown.get("message") or INVALID)
    return render_template("auth/login.html", form=form, unverified=shown.get("unverified", False)), 401


def _audit_lockout(user: User | None, key: str, address: str) -> None:
    parts = []
    if throttle.retry_after("login_account", key):
        parts.append("account")
    if throttle.retry_after("login_address", address):
        parts.append(f"client address {address}")
    audit.record(
        "auth.locked",
        target=user,
        target_type="users",
        target_label=None if user is not None else (key if "@" in key else None),
        detail=" and ".join(parts) + " locked after failed sign-ins",
        actor=None,
    )


def complete_login(user: User, *, key: str, method: str, two_factor: bool) -> None:
    """Sign ``user`` in: a fresh session (no state from before survives), a new session row, the account's failure
    count forgotten (the client address keeps its count: it may be failing for other accounts)."""
    session.clear()
    login_user(user)
    sessions.start(user, two_factor=two_factor)
    accounts.record_login(user)
    throttle.clear("login_account", key)
    audit.record("auth.login", target=user, actor=user, detail=method)


# --------------------------------------------------------------------------- second factor at sign-in


def _pending() -> tuple[User | None, dict]:
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict):
        return None, {}
    try:
        fresh = 0 <= time.time() - float(data["at"]) <= PENDING_SECONDS
        user = db.session.get(User, int(data["user"])) if fresh else None
    except (KeyError, TypeError, ValueError):
        user = None
    if user is None or not user.is_active or not user.has_two_factor:
        session.pop(PENDING_KEY, None)
        return None, {}
    return user, data


@limiter.limit(_login_limit, methods=["POST"])
def two_factor_login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    had_pending = PENDING_KEY in session
    user, pending = _pending()
    if user is None:
        if had_pending:
            flash("That took too long: please sign in again.", "info")
        return redirect(url_for("auth.login"))
    form = TwoFactorLoginForm()
    if not form.validate_on_submit():
        return render_template("auth/two_factor_login.html", form=form), 422 if form.errors else 200
    key = str(user.id)
    wait = throttle.retry_after("two_factor", key)
    if wait:
        return _locked_response("auth/two_factor_login.html", form, wait, "codes")
    code = form.code.data
    if twofactor.verify_code(user, code):
        method = "password and authenticator code"
    elif twofactor.use_recovery_code(user, code):
        method = "password and recovery code"
    else:
        reason = "code already used" if twofactor.matching_step(user.totp_secret, code) is not None else "wrong code"
        audit.record("auth.two_factor_failed", target=user, detail=reason, actor=None)
        throttle.hit("two_factor", key)
        wait = throttle.retry_after("two_factor", key)
        if wait:
            audit.record("auth.locked", target=user, detail="second factor locked after wrong codes", actor=None)
            db.session.commit()
            return _locked_response("auth/two_factor_login.html", form, wait, "codes")
        db.session.commit()
        form.code.errors = ["That code is not valid (codes work once). Try the next code, or a recovery code."]
        return render_template("auth/two_factor_login.html", form=form), 401
    next_path = safe_next(pending.get("next"))
    complete_login(user, key=pending.get("key") or account_key(user.email), method=method, two_factor=True)
    throttle.clear("two_factor", key)
    if method.endswith("recovery code"):
        left = twofactor.recovery_codes_left(user)
        flash(f"Recovery code used: {left} left. Make new ones on your profile page if you are running out.", "info")
    return redirect(next_path or url_for("main.index"))


def logout():
    if current_user.is_authenticated:
        sessions.end_current()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
