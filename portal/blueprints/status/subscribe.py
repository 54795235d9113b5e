"""Subscriptions to the status page: the public form (CSRF-protected; this page may set the session cookie, /status
never does), the double opt-in link (a page whose button confirms: mail scanners open links) and the per-subscriber
link page (unsubscribe with one click, RFC 8058, or choose components)."""

from __future__ import annotations

from flask import current_app, render_template, request

from portal.blueprints.common import attempt
from portal.client import client_ip
from portal.services.account_flows import Throttled
from portal.services.status import components as component_service
from portal.services.status import subscriptions
from portal.services.status.subscriptions import LinkRefused

SUBSCRIBE_DONE = (
    "Thank you. If this address is not subscribed yet, we sent it a link: follow it to confirm the subscription. "
    "Check your inbox."
)


def _token_page(template: str, status: int = 200, **context):
    """Pages whose URL holds a token never pass it on in a Referer header."""
    response = current_app.make_response((render_template(template, **context), status))
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _choice() -> tuple[bool, list[str]]:
    return request.form.get("scope", "all") != "some", request.form.getlist("components")


def subscribe():
    context = {"components": component_service.list_components(), "errors": {}, "form": request.form}
    if request.method == "GET":
        return render_template("status/subscribe.html", **context)
    everything, chosen = _choice()
    _none, refused = attempt(
        lambda: subscriptions.subscribe(
            request.form.get("email", "")[:320], all_components=everything, component_ids=chosen, client=client_ip()
        )
    )
    if isinstance(refused, Throttled):
        response = current_app.make_response(
            (render_template("status/subscribe.html", throttled=refused.message, **context), 429)
        )
        response.headers["Retry-After"] = str(refused.retry_after)
        return response
    if refused is not None:
        context["errors"] = refused.fields or {"email": refused.message}
        return render_template("status/subscribe.html", **context), 422
    return render_template("status/subscribe_done.html", message=SUBSCRIBE_DONE)


def confirm(token: str):
    if request.method == "GET":
        try:
            subscriber = subscriptions.pending_confirmation(token)
        except LinkRefused as refused:
            return _token_page("status/link_refused.html", 410, message=refused.message)
        return _token_page("status/confirm.html", email=subscriber.email, token=token)
    subscriber, refused = attempt(lambda: subscriptions.confirm(token))
    if refused is not None:
        return _token_page("status/link_refused.html", 410, message=refused.message)
    return _token_page(
        "status/confirmed.html", email=subscriber.email, manage_token=subscriptions.manage_token(subscriber)
    )


def _manage_page(subscriber, status: int = 200, **context):
    return _token_page(
        "status/manage.html",
        status,
        subscriber=subscriber,
        token=subscriptions.manage_token(subscriber),
        components=component_service.list_components(),
        errors=context.pop("errors", {}),
        **context,
    )


def unsubscribe(token: str):
    """GET: the link page (a button to unsubscribe, the component choice). POST: unsubscribe — also the one-click
    POST a mail client sends from the List-Unsubscribe header (no CSRF token, no cookie)."""
    if request.method == "GET":
        try:
            subscriber = subscriptions.subscriber_for_manage(token)
        except LinkRefused as refused:
            return _token_page("status/link_refused.html", 404, message=refused.message)
        return _manage_page(subscriber)
    subscriber, refused = attempt(lambda: subscriptions.unsubscribe(token))
    if refused is not None:
        return _token_page("status/link_refused.html", 404, message=refused.message)
    return _manage_page(subscriber, done="You are unsubscribed: no more status emails go to this address.")


def manage(token: str):
    everything, chosen = _choice()
    subscriber, refused = attempt(
        lambda: subscriptions.change_components(token, all_components=everything, component_ids=chosen)
    )
    if isinstance(refused, LinkRefused):
        return _token_page("status/link_refused.html", 404, message=refused.message)
    if refused is not None:
        return _manage_page(subscriptions.subscriber_for_manage(token), 422, errors=refused.fields)
    return _manage_page(subscriber, done="Your choice of components is saved.")
