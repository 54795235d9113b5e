"""Sign-up and the flows that prove an address: confirming it, sending the link again, resetting a forgotten
password, changing the address. The emailed links only show a page; its button acts (mail scanners open links)."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal.blueprints.auth import routes
from portal.blueprints.auth.forms import ConfirmLinkForm, EmailChangeForm, EmailOnlyForm, ResetPasswordForm, SignupForm
from portal.blueprints.common import attempt, show_errors
from portal.client import client_ip
from portal.extensions import limiter
from portal.models import LinkPurpose
from portal.services import account_flows
from portal.services.account_flows import AddressTaken, LinkRefused, Throttled

SIGNUP_DONE = (
    "Thank you. We sent a link to your address: follow it to confirm the address, then sign in. "
    "If your company is not one of our customers yet, our team approves the account after that."
)
RESEND_DONE = "If this address has an account waiting for confirmation, we sent it a new link. Check your inbox."
FORGOT_DONE = "If an account uses this address, we sent it a link to choose a new password. Check your inbox."


def _signup_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _no_referrer(response):
    """Pages whose URL holds a token never pass it on in a Referer header."""
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _throttled(template: str, refused: Throttled, **context):
    response = current_app.make_response((render_template(template, throttled=refused.message, **context), 429))
    response.headers["Retry-After"] = str(refused.retry_after)
    return response


# --------------------------------------------------------------------------- sign-up


@limiter.limit(_signup_limit, methods=["POST"])
def signup():
    form = SignupForm()
    if not form.validate_on_submit():
        return render_template("auth/signup.html", form=form), (422 if form.errors else 200)
    _user, refused = attempt(
        lambda: account_flows.sign_up(
            name=form.name.data,
            email=form.email.data,
            password=form.password.data,
            timezone=form.timezone.data or "UTC",
            client=client_ip(),
        )
    )
    if isinstance(refused, Throttled):
        return _throttled("auth/signup.html", refused, form=form)
    if refused is not None:
        show_errors(form, refused)
        return render_template("auth/signup.html", form=form), 422
    flash(SIGNUP_DONE, "success")  # the same answer whether or not the address already had an account
    return redirect(url_for("auth.login"))


# --------------------------------------------------------------------------- address confirmation


def resend_verification():
    """Ask for a new confirmation link (the sign-in page links here for an unconfirmed address)."""
    form = EmailOnlyForm()
    if request.method == "GET" and request.args.get("email"):
        form.email.data = request.args.get("email", "")[:254]
    if not form.validate_on_submit():
        return render_template("auth/verify_resend.html", form=form), (422 if form.errors else 200)
    _none, refused = attempt(lambda: account_flows.resend_verification(form.email.data, client=client_ip()))
    if isinstance(refused, Throttled):
        return _throttled("auth/verify_resend.html", refused, form=form)
    if refused is not None:
        form.email.errors = [refused.fields.get("email", refused.message)]
        return render_template("auth/verify_resend.html", form=form), 422
    flash(RESEND_DONE, "success")
    return redirect(url_for("auth.login"))


def _refused(purpose: LinkPurpose, message: str = account_flows.LINK_REFUSED, status: int = 410):
    return _no_referrer(
        current_app.make_response(
            (render_template("auth/link_refused.html", purpose=purpose.value, message=message), status)
        )
    )


def verify_email(token: str):
    form = ConfirmLinkForm()
    if request.method == "GET" or not form.validate_on_submit():
        link = account_flows.peek_link(token, LinkPurpose.verify_email)
        if link is None:
            return _refused(LinkPurpose.verify_email)
        status = 422 if form.errors else 200
        return _no_referrer(
            current_app.make_response((render_template("auth/verify.html", form=form, email=link.user.email), status))
        )
    user, refused = attempt(lambda: account_flows.verify_email(token))
    if refused is not None:
        return _refused(LinkPurpose.verify_email)
    if not user.is_approved:
        flash("Your address is confirmed. You can sign in once our team has approved your account.", "success")
    elif user.requested_organization is not None:
        flash(
            f"Your address is confirmed and you can sign in. {user.requested_organization.name} approves its new "
            "members: until your request is accepted you see only your own tickets.",
            "success",
        )
    else:
        flash("Your address is confirmed. You can sign in now.", "success")
    return redirect(url_for("auth.login"), 303)


# --------------------------------------------------------------------------- password reset


def forgot_password():
    form = EmailOnlyForm()
    if not form.validate_on_submit():
        return render_template("auth/forgot.html", form=form), (422 if form.errors else 200)
    _none, refused = attempt(lambda: account_flows.request_password_reset(form.email.data, client=client_ip()))
    if isinstance(refused, Throttled):
        return _throttled("auth/forgot.html", refused, form=form)
    if refused is not None:
        form.email.errors = [refused.fields.get("email", refused.message)]
        return render_template("auth/forgot.html", form=form), 422
    flash(FORGOT_DONE, "success")
    return redirect(url_for("auth.login"))


def reset_password(token: str):
    form = ResetPasswordForm()
    link = account_flows.peek_link(token, LinkPurpose.reset_password)
    if link is None:
        return _refused(LinkPurpose.reset_password)
    status = 200
    if form.validate_on_submit():
        _user, refused = attempt(lambda: account_flows.reset_password(token, form.password.data))
        if isinstance(refused, LinkRefused):
            return _refused(LinkPurpose.reset_password)
        if refused is None:
            flash("Your password is changed. Sign in with the new one.", "success")
            return redirect(url_for("auth.login"), 303)
        show_errors(form, refused)
        status = 422
        link = account_flows.peek_link(token, LinkPurpose.reset_password)
        if link is None:
            return _refused(LinkPurpose.reset_password)
    elif form.errors:
        status = 422
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    page = render_template("auth/reset.html", form=form, email=link.user.email, minimum=minimum)
    return _no_referrer(current_app.make_response((page, status)))


# --------------------------------------------------------------------------- email change


@login_required
def request_email_change():
    form = EmailChangeForm()
    if not form.validate_on_submit():
        return routes.render_profile(email_form=form, status=422)
    address, refused = attempt(
        lambda: account_flows.request_email_change(current_user, form.new_email.data, form.current_password.data)
    )
    if isinstance(refused, Throttled):
        response, status = routes.render_profile(email_form=form, email_throttled=refused.message, status=429)
        return response, status, {"Retry-After": str(refused.retry_after)}
    if refused is not None:
        show_errors(form, refused)
        return routes.render_profile(email_form=form, status=422)
    flash(
        f"We sent a link to {address}. Your address changes when you follow it; until then it stays "
        f"{current_user.email}.",
        "success",
    )
    return redirect(url_for("auth.profile"), 303)


def confirm_email_change(token: str):
    form = ConfirmLinkForm()
    if request.method == "GET" or not form.validate_on_submit():
        link = account_flows.peek_link(token, LinkPurpose.change_email)
        if link is None:
            return _refused(LinkPurpose.change_email)
        status = 422 if form.errors else 200
        page = render_template("auth/email_confirm.html", form=form, old=link.user.email, new=link.new_email)
        return _no_referrer(current_app.make_response((page, status)))
    user, refused = attempt(lambda: account_flows.confirm_email_change(token))
    if isinstance(refused, AddressTaken):
        return _refused(LinkPurpose.change_email, refused.message, 409)
    if refused is not None:
        return _refused(LinkPurpose.change_email)
    flash(f"Your address is now {user.email}.", "success")
    if current_user.is_authenticated and current_user.id == user.id:
        return redirect(url_for("auth.profile"), 303)
    return redirect(url_for("auth.login"), 303)
