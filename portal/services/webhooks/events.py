"""Webhook events: the hooks the ticket, SLA, incident and CSAT services call when a fact happens, in the same
transaction. Each matching active subscription gets a ``WebhookDelivery`` (the event as it is now) and a
``webhook.deliver`` outbox row; with no subscription for the event a hook costs one query per transaction (the
active subscriptions are cached on the session until it commits or rolls back).

Payloads carry the facts other systems act on (references, states, priorities, links), never the text of internal
notes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import current_app, url_for
from sqlalchemy import select

from portal.extensions import db
from portal.models import utcnow
from portal.models.webhooks import WebhookDelivery, WebhookSubscription
from portal.services import outbox

if TYPE_CHECKING:
    from portal.services.changes import TicketChange

EVENTS: dict[str, str] = {
    "ticket.created": "A ticket was filed (any channel).",
    "ticket.updated": "A ticket changed: a public reply, status, priority, tier, category, assignee or escalation.",
    "ticket.solved": "A ticket was solved.",
    "sla.at_risk": "A ticket's first-response or resolution target is at risk.",
    "sla.breached": "A ticket's first-response or resolution target was breached.",
    "incident.updated": "An incident update was posted (with its state).",
    "csat.received": "A requester rated a solved ticket.",
}
PING = "ping"
DELIVER_KIND = "webhook.deliver"
# The changes a ticket.updated reports (field names of ``changes.FieldChange``); anything else is not announced.
PUBLIC_FIELDS = ("status", "priority", "tier", "category", "assignee")
_CACHE = "webhooks.active_subscriptions"


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _active() -> list[tuple[int, frozenset[str]]]:
    """(id, events) of the active subscriptions, looked up once per transaction."""
    session = db.session()
    transaction = session.get_transaction()
    cached = session.info.get(_CACHE)
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1]
    with session.no_autoflush:
        rows = session.execute(
            select(WebhookSubscription.id, WebhookSubscription.events).where(WebhookSubscription.active.is_(True))
        ).all()
    found = [(row.id, frozenset(row.events or ())) for row in rows]
    if transaction is not None:
        session.info[_CACHE] = (transaction, found)
    return found


def forget_cache() -> None:
    """A subscription was added or changed in this transaction: the next hook looks again."""
    db.session.info.pop(_CACHE, None)


def subscribers(event: str) -> list[int]:
    return [sid for sid, events in _active() if event in events]


def record(event: str, data: dict[str, Any], subscription_ids: list[int]) -> list[WebhookDelivery]:
    """One delivery (own id) and one outbox row for each subscription in ``subscription_ids``."""
    created = iso(utcnow())
    deliveries = []
    for subscription_id in subscription_ids:
        delivery_uuid = str(uuid.uuid4())
        payload = {"id": delivery_uuid, "type": event, "created_at": created, "data": data}
        delivery = WebhookDelivery(
            uuid=delivery_uuid, subscription_id=subscription_id, event_type=event, payload=payload, state="pending"
        )
        outbox.add(delivery)  # the session, or the SLA sweep's bulk buffer
        outbox.emit(DELIVER_KIND, {"delivery": delivery_uuid, "after": 0})  # a fresh id: nothing to dedupe
        deliveries.append(delivery)
    return deliveries


def _emit(event: str, build) -> None:
    wanted = subscribers(event)
    if wanted:
        record(event, build(), wanted)


# --------------------------------------------------------------------------- payload parts


def _link(endpoint: str, **values: Any) -> str:
    with current_app.test_request_context(base_url=current_app.config["PORTAL_URL"]):
        return url_for(endpoint, _external=True, **values)


def ticket_data(ticket) -> dict[str, Any]:
    organization = ticket.organization if ticket.organization_id else None
    return {
        "reference": ticket.reference,
        "subject": ticket.subject,
        "status": ticket.status.value,
        "priority": ticket.priority.value,
        "tier": ticket.tier.value,
        "channel": ticket.channel.value,
        "organization": organization.name if organization is not None else None,
        "requester": {"email": ticket.requester.email} if ticket.requester is not None else None,
        "created_at": iso(ticket.created_at),
        "url": _link("agent.ticket", reference=ticket.reference),
    }


# --------------------------------------------------------------------------- the hooks


def ticket_changed(change: TicketChange) -> None:
    """created → ticket.created; a change to solved → ticket.solved; other public changes → ticket.updated.
    Internal notes announce nothing (their text never leaves)."""
    if change.kind == "note" and not any(c.field in PUBLIC_FIELDS for c in change.changes):
        return
    status = change.changed("status")
    if change.kind == "created":
        event = "ticket.created"
    elif status is not None and status.new == "solved":
        event = "ticket.solved"
    else:
        event = "ticket.updated"
    if not subscribers(event):
        return

    def build() -> dict[str, Any]:
        fields = [{"field": c.field, "old": c.old, "new": c.new} for c in change.changes if c.field in PUBLIC_FIELDS]
        return {"ticket": ticket_data(change.ticket), "change": {"kind": change.kind, "fields": fields}}

    _emit(event, build)


def sla_crossed(ticket, target: str, kind: str, due: datetime | None) -> None:
    """The SLA clock recorded an at-risk or breach fact for ``target`` (first_response or resolution)."""
    event = "sla.breached" if kind == "breached" else "sla.at_risk"
    _emit(event, lambda: {"ticket": ticket_data(ticket), "sla": {"target": target, "due_at": iso(due)}})


def incident_updated(incident, update) -> None:
    def build() -> dict[str, Any]:
        return {
            "incident": {
                "reference": incident.reference,
                "title": incident.title,
                "state": incident.state.value,
                "public": bool(incident.public),
            },
            "update": {"id": update.id, "state": update.state.value, "body": update.body, "at": iso(update.created_at)},
        }

    _emit("incident.updated", build)


def csat_received(survey) -> None:
    def build() -> dict[str, Any]:
        return {
            "ticket": ticket_data(survey.ticket),
            "rating": {"value": survey.rating, "comment": survey.comment or "", "at": iso(survey.rated_at)},
        }

    _emit("csat.received", build)
