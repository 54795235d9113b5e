"""What follows a ticket change, run inside the same transaction as the change.

``portal.services.tickets`` calls ``ticket_changed`` after every change it makes. The steps run in this order, each
seeing what the ones before it settled: SLA clocks, routing (tier rule, assignment), tier time, notifications,
then the search index update. Steps never commit and never talk to Redis, SMTP or the index directly: they only
write rows (the outbox delivers after commit).
"""

from __future__ import annotations

from portal.services import csat, escalation, notifications, outbox, routing, sla
from portal.services.changes import TicketChange
from portal.services.webhooks import events as webhook_events


def ticket_changed(change: TicketChange) -> None:
    """Run every consequence of ``change``. Called by ``portal.services.tickets`` only."""
    sla.on_ticket_changed(change)
    routing.on_ticket_changed(change)
    escalation.on_ticket_changed(change)
    notifications.ticket_changed(change)  # sees the assignee and priority the steps above settled
    csat.on_ticket_changed(change)  # a solve offers a satisfaction survey, a reopen withdraws it
    outbox.emit("index.ticket", {"ticket_id": change.ticket.id})  # search index (queue "index", one writer)
    webhook_events.ticket_changed(change)  # outgoing webhooks: nothing unless a subscription wants the event
