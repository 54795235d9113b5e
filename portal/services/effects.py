"""What follows a ticket change, run inside the same transaction as the change (DESIGN.md §3, §7).

``portal.services.tickets`` calls ``ticket_changed`` after every change it makes. Each subsystem adds its step here,
explicitly and in order: SLA clocks, routing, outbox rows for notifications and index updates. Steps must not
commit, must not talk to Redis, SMTP or the index directly — they only write rows (the outbox delivers after commit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portal.services.tickets import TicketChange


def ticket_changed(change: TicketChange) -> None:
    """Run every consequence of ``change``. Called by ``portal.services.tickets`` only."""
    from portal.services import escalation, routing, sla  # SLA clocks, routing, tier time (issue 3, part A)

    sla.on_ticket_changed(change)
    routing.on_ticket_changed(change)
    escalation.on_ticket_changed(change)
    from portal.services import notifications

    notifications.ticket_changed(change)  # last: sees the assignee and priority the steps above settled
    from portal.services.outbox import emit

    emit("index.ticket", {"ticket_id": change.ticket.id})  # search index (queue "index", one writer)
