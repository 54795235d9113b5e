"""Sign-up (and, with it, the flows that prove an address)."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for

from portal.blueprints.auth.forms import SignupForm
from portal.blueprints.common import attempt, show_errors
from portal.extensions import limiter
from portal.services import accounts

SIGNUP_DONE = (
    "Thank you. If your email domain belongs to a customer organization you can sign in now; "
    "otherwise our team will approve your account shortly."
)


def _signup_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@limiter.limit(_signup_limit, methods=["POST"])
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
