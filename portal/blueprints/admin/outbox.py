"""Admin: background jobs — outbox rows by status, permanent failures with a retry button, uncertain sends and the
delivery history (every attempt of every send) of the latest outbox rows."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, select

from portal.blueprints.common import admin_required
from portal.extensions import db
from portal.models import NotificationDelivery, OutboxMessage
from portal.models.notifications import DELIVERY_EVENTS, NotificationDeliveryEvent
from portal.services import jobs_admin
from portal.services.errors import ValidationFailed


def delivery_history(rows: int = 30) -> list[tuple[OutboxMessage, list[tuple[NotificationDelivery, list]]]]:
    """The outbox rows with the latest delivery activity, each with its deliveries and their events in order."""
    latest = func.max(NotificationDeliveryEvent.id)
    ids = list(
        db.session.scalars(
            select(NotificationDeliveryEvent.outbox_id)
            .where(NotificationDeliveryEvent.outbox_id.is_not(None))
            .group_by(NotificationDeliveryEvent.outbox_id)
            .order_by(latest.desc())
            .limit(rows)
        )
    )
    if not ids:
        return []
    messages = {m.id: m for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))}
    deliveries = list(
        db.session.scalars(
            select(NotificationDelivery)
            .where(NotificationDelivery.outbox_id.in_(ids))
            .order_by(NotificationDelivery.id)
        )
    )
    events: dict[int, list] = {}
    for event in db.session.scalars(
        select(NotificationDeliveryEvent)
        .where(NotificationDeliveryEvent.outbox_id.in_(ids))
        .order_by(NotificationDeliveryEvent.id)
    ):
        events.setdefault(event.delivery_id, []).append(event)
    by_row: dict[int, list] = {}
    for delivery in deliveries:
        by_row.setdefault(delivery.outbox_id, []).append((delivery, events.get(delivery.id, [])))
    return [(messages[i], by_row.get(i, [])) for i in ids if i in messages]


@admin_required
def outbox():
    return render_template(
        "admin/outbox.html",
        counts=jobs_admin.outbox_counts(),
        failed=jobs_admin.failed_messages(),
        retrying=jobs_admin.retrying_messages(),
        uncertain=jobs_admin.uncertain_deliveries(),
        uncertain_after=current_app.config.get("DELIVERY_UNCERTAIN_AFTER", 300),
        history=delivery_history(),
        event_labels=DELIVERY_EVENTS,
    )


@admin_required
def retry_outbox(message_id: int):
    try:
        message = jobs_admin.retry_message(current_user, message_id)
    except ValidationFailed as exc:
        flash(f"Job {message_id} was not retried: {exc.fields.get('status', exc.message)}", "error")
        return redirect(url_for("admin.outbox"), 303)
    flash(f"Job {message.id} ({message.kind}) will run again shortly.", "success")
    return redirect(url_for("admin.outbox"), 303)
