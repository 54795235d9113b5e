"""Status page jobs: subscription confirmations and incident/maintenance notices to subscribers.

Payloads: ``status.confirm`` {subscriber_id, already?} — the confirmation link (recomputed from the row; nothing is
sent once the link was used or superseded) or, for an address subscribed already, its manage link;
``status.incident_update`` {update_id} (written by the incidents service for each public update) — one email to
every confirmed subscriber whose components intersect the incident's (all-components subscribers always), each
once (``senders.deliver``), with a one-click unsubscribe link (List-Unsubscribe, RFC 8058). Nothing is sent for an
update written while every component of its incident was under a running maintenance window.
``status.maintenance`` {window_id, notice} — "scheduled" and "cancelled" (written when a manager does it),
"started" and "completed" (written once each by the periodic task ``maintenance_notices``) — to the subscribers of
the window's components, each once.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import current_app, render_template, url_for
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    Component,
    Incident,
    IncidentComponent,
    IncidentUpdate,
    Maintenance,
    MaintenanceComponent,
    StatusSubscriber,
    utcnow,
)
from portal.services.status import maintenance, subscriptions
from workers import senders
from workers.context import job_context
from workers.registry import handler
from workers.runner import PermanentFailure


def _url(endpoint: str, **values: Any) -> str:
    with current_app.test_request_context(base_url=current_app.config["PORTAL_URL"]):
        return url_for(endpoint, _external=True, **values)


def _send(
    message_id: int,
    kind: str,
    subscriber: StatusSubscriber,
    template: str,
    subject: str,
    *,
    unsubscribe: bool,
    **context: Any,
) -> bool:
    """Render ``email/<template>.txt|.html`` for ``subscriber`` and send it once for this outbox row."""
    to = subscriber.email
    digest = hashlib.sha1(to.lower().encode()).hexdigest()[:10]
    mid = f"<{kind.replace('.', '-')}.{message_id}.{digest}@{senders.mail_domain()}>"
    manage_url = _url("status.unsubscribe", token=subscriptions.manage_token(subscriber))
    context.update(manage_url=manage_url, status_url=_url("status.page"))

    def send(claim: senders.Claim) -> str:
        text = render_template(f"email/{template}.txt", **context)
        html = render_template(f"email/{template}.html", **context)
        message = senders.build_email(to, subject, text, html, message_id=claim.message_id or mid)
        if unsubscribe:
            message["List-Unsubscribe"] = f"<{manage_url}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return senders.send_email(message)

    return senders.deliver(message_id, "email", to, send, message_id=mid)


@handler("status.confirm")
def confirm(payload: dict[str, Any], message_id: int) -> None:
    subscriber = db.session.get(StatusSubscriber, int(payload["subscriber_id"]))
    if subscriber is None:
        raise PermanentFailure(f"status subscriber {payload.get('subscriber_id')} does not exist")
    if payload.get("already"):
        if subscriptions.is_active(subscriber):
            _send(
                message_id,
                "status.confirm",
                subscriber,
                "status_already",
                "You are subscribed to the ESG Support status page",
                unsubscribe=False,
            )
        return
    try:
        token = subscriptions.confirm_token(subscriber)
        subscriptions.pending_confirmation(token)
    except subscriptions.LinkRefused:
        return  # used, superseded or expired before this ran: a newer request has its own message
    _send(
        message_id,
        "status.confirm",
        subscriber,
        "status_confirm",
        "Confirm your subscription to the ESG Support status page",
        unsubscribe=False,
        confirm_url=_url("status.confirm", token=token),
        hours=int(current_app.config["EMAIL_VERIFY_HOURS"]),
    )


@handler("status.incident_update")
def incident_update(payload: dict[str, Any], message_id: int) -> None:
    update = db.session.get(IncidentUpdate, int(payload["update_id"]))
    if update is None:
        raise PermanentFailure(f"incident update {payload.get('update_id')} does not exist")
    incident = db.session.get(Incident, update.incident_id)
    if incident is None or not incident.public:
        return  # never mail about an internal incident
    rows = db.session.execute(
        select(Component.id, Component.name)
        .join(IncidentComponent, IncidentComponent.component_id == Component.id)
        .where(IncidentComponent.incident_id == incident.id)
        .order_by(Component.position, Component.id)
    ).all()
    component_ids = {row.id for row in rows}
    if maintenance.all_suppressed(component_ids, update.created_at):
        return  # every component it is about was under maintenance when it was written
    subject = f"[{update.state.label}] {incident.reference} {incident.title}"
    for subscriber in subscriptions.recipients(component_ids):
        _send(
            message_id,
            "status.incident_update",
            subscriber,
            "status_incident_update",
            subject,
            unsubscribe=True,
            incident=incident,
            update=update,
            components=[row.name for row in rows],
            incident_url=_url("status.incident", incident_id=incident.id),
        )


NOTICE_SUBJECTS = {
    "scheduled": "Maintenance scheduled",
    "started": "Maintenance started",
    "completed": "Maintenance completed",
    "cancelled": "Maintenance cancelled",
}


@handler("status.maintenance")
def maintenance_notice(payload: dict[str, Any], message_id: int) -> None:
    window = db.session.get(Maintenance, int(payload["window_id"]))
    if window is None:
        raise PermanentFailure(f"maintenance window {payload.get('window_id')} does not exist")
    notice = str(payload.get("notice", ""))
    if notice not in NOTICE_SUBJECTS:
        raise PermanentFailure(f"unknown maintenance notice {notice!r}")
    if notice != "cancelled" and window.cancelled_at is not None:
        return  # cancelled before this ran: the cancellation has its own message
    rows = db.session.execute(
        select(Component.id, Component.name)
        .join(MaintenanceComponent, MaintenanceComponent.component_id == Component.id)
        .where(MaintenanceComponent.maintenance_id == window.id)
        .order_by(Component.position, Component.id)
    ).all()
    for subscriber in subscriptions.recipients({row.id for row in rows}):
        _send(
            message_id,
            "status.maintenance",
            subscriber,
            "status_maintenance",
            f"{NOTICE_SUBJECTS[notice]}: {window.title}",
            unsubscribe=True,
            window=window,
            notice=notice,
            heading=NOTICE_SUBJECTS[notice],
            components=[row.name for row in rows],
        )


def maintenance_notices():
    """Announce the maintenance windows that started or ended since the last run (every minute; each once)."""
    with job_context():
        emitted = maintenance.announce_due(utcnow())
        db.session.commit()
        return emitted
