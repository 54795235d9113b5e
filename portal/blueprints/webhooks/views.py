"""/admin/webhooks: subscriptions (URL, events, active, description), the secret shown once on the page that
answers its creation or rotation, a test ping, and each subscription's delivery log with a redeliver button."""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.common import roles_required
from portal.extensions import db
from portal.models import Role
from portal.services.errors import NotFound, ValidationFailed
from portal.services.webhooks import events, subscriptions
from portal.services.webhooks.urls import redact

admin_only = roles_required(Role.admin)


def _form_values(subscription=None) -> dict:
    if request.method == "POST":
        return {
            "url": request.form.get("url", ""),
            "description": request.form.get("description", ""),
            "events": request.form.getlist("events"),
            "active": request.form.get("active") == "on",
        }
    if subscription is None:
        return {"url": "", "description": "", "events": [], "active": True}
    return {
        "url": redact(subscription.url),
        "description": subscription.description,
        "events": list(subscription.events or []),
        "active": subscription.active,
    }


def _no_store(html: str):
    """The page showing a secret is never cached (a shared or back-button copy would show it again)."""
    response = make_response(html)
    response.headers["Cache-Control"] = "no-store"
    return response


def _subscription(subscription_id: int):
    try:
        return subscriptions.get(current_user, subscription_id)
    except NotFound:
        abort(404)


@admin_only
def index(values: dict | None = None, errors: dict | None = None, status: int = 200):
    return render_template(
        "webhooks/index.html",
        subscriptions=subscriptions.listing(current_user),
        values=values or _form_values(),
        errors=errors or {},
        events=events.EVENTS,
        redact=redact,
    ), status


@admin_only
def create():
    values = _form_values()
    try:
        subscription = subscriptions.create(
            current_user,
            url=values["url"],
            description=values["description"],
            chosen=values["events"],
            active=values["active"],
        )
    except ValidationFailed as exc:
        db.session.rollback()
        return index(values, exc.fields, 422)
    secret = subscription.secret
    db.session.commit()
    return _no_store(
        render_template("webhooks/secret.html", subscription=subscription, secret=secret, created=True, redact=redact)
    )


def _detail_page(subscription, values=None, errors=None, status=200):
    return render_template(
        "webhooks/detail.html",
        subscription=subscription,
        values=values or _form_values(subscription),
        errors=errors or {},
        events=events.EVENTS,
        deliveries=subscriptions.deliveries(subscription),
        redact=redact,
    ), status


@admin_only
def detail(subscription_id: int):
    return _detail_page(_subscription(subscription_id))


@admin_only
def update(subscription_id: int):
    subscription = _subscription(subscription_id)
    values = _form_values(subscription)
    url = values["url"]
    if url == redact(subscription.url):  # the form shows the URL without credentials; unchanged means unchanged
        url = subscription.url
    try:
        subscriptions.update(
            current_user,
            subscription,
            url=url,
            description=values["description"],
            chosen=values["events"],
            active=values["active"],
        )
    except ValidationFailed as exc:
        db.session.rollback()
        return _detail_page(_subscription(subscription_id), values, exc.fields, 422)
    db.session.commit()
    flash("Webhook subscription saved.", "success")
    return redirect(url_for("webhooks.detail", subscription_id=subscription_id), 303)


@admin_only
def rotate(subscription_id: int):
    subscription = _subscription(subscription_id)
    secret = subscriptions.rotate_secret(current_user, subscription)
    db.session.commit()
    return _no_store(
        render_template("webhooks/secret.html", subscription=subscription, secret=secret, created=False, redact=redact)
    )


@admin_only
def ping(subscription_id: int):
    subscription = _subscription(subscription_id)
    subscriptions.ping(current_user, subscription)
    db.session.commit()
    flash("Test ping queued: its delivery is at the top of the log below.", "success")
    return redirect(url_for("webhooks.detail", subscription_id=subscription_id), 303)


@admin_only
def delete(subscription_id: int):
    subscription = _subscription(subscription_id)
    subscriptions.delete(current_user, subscription)
    db.session.commit()
    flash("Webhook subscription deleted, with its delivery log.", "success")
    return redirect(url_for("webhooks.index"), 303)


@admin_only
def delivery(subscription_id: int, delivery_id: int):
    subscription = _subscription(subscription_id)
    try:
        found = subscriptions.get_delivery(current_user, subscription, delivery_id)
    except NotFound:
        abort(404)
    return render_template(
        "webhooks/delivery.html",
        subscription=subscription,
        delivery=found,
        attempts=subscriptions.attempts(found),
        redact=redact,
    )


@admin_only
def redeliver(subscription_id: int, delivery_id: int):
    subscription = _subscription(subscription_id)
    try:
        found = subscriptions.get_delivery(current_user, subscription, delivery_id)
    except NotFound:
        abort(404)
    try:
        subscriptions.redeliver(current_user, found)
    except ValidationFailed as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash("Redelivery queued: a new attempt with the same webhook id.", "success")
    return redirect(url_for("webhooks.delivery", subscription_id=subscription_id, delivery_id=delivery_id), 303)
