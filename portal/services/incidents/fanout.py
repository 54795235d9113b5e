"""The fan-out of incident work over many tickets and contacts, run by ``workers.incidents`` in chunked jobs.

An update is planned once (the ``fanout`` timeline event is the marker; chunk rows carry dedupe keys, so a retried
planner adds nothing) into chunks of ticket replies and of contact emails. A ticket-reply chunk is guarded against
its own retry: before replying it looks for the reply it would write (same author, same body, on or after the
update's instant) and skips tickets that have it — the replies and the job's completion commit together, so a retry
only happens for a chunk whose transaction rolled back or whose completion was lost after commit, and in the latter
case the guard finds every reply. Solving (resolution) and escalation are naturally idempotent: a solved ticket is
skipped, a ticket at engineering is not raised again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    OPEN_STATUSES,
    EventKind,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentOrganization,
    IncidentTicket,
    IncidentUpdate,
    Role,
    Status,
    Ticket,
    TicketEvent,
    Tier,
    User,
)
from portal.services import outbox
from portal.services import tickets as ticket_service
from portal.services.errors import ServiceError
from portal.services.escalation import can_escalate

TICKET_CHUNK = 100
CONTACT_CHUNK = 250


def chunks(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def reply_body(incident: Incident, update: IncidentUpdate) -> str:
    """The public reply an update becomes on a linked ticket (deterministic: the retry guard compares it)."""
    return f"{incident.reference} · {incident.title} — {update.state.label}\n\n{update.body}"


def linked_open_ticket_ids(incident_id: int) -> list[int]:
    return list(
        db.session.scalars(
            select(Ticket.id)
            .join(IncidentTicket, IncidentTicket.ticket_id == Ticket.id)
            .where(IncidentTicket.incident_id == incident_id, Ticket.status.in_(list(OPEN_STATUSES)))
            .order_by(Ticket.id)
        )
    )


def contact_ids(incident: Incident, exclude: set[int]) -> list[int]:
    """Active customers of the affected organizations (every customer when all are affected), minus ``exclude``
    (the requesters who get the update as a ticket reply)."""
    stmt = select(User.id).where(
        User.role == Role.customer, User.is_active_account.is_(True), User.is_approved.is_(True)
    )
    if not incident.all_organizations:
        stmt = stmt.where(
            User.organization_id.in_(
                select(IncidentOrganization.organization_id).where(IncidentOrganization.incident_id == incident.id)
            )
        )
    return [i for i in db.session.scalars(stmt.order_by(User.id)) if i not in exclude]


def plan_update(update: IncidentUpdate) -> tuple[int, int] | None:
    """Split one update into chunk jobs; None when it was planned before (a retry of the planner)."""
    incident = db.session.get(Incident, update.incident_id)
    marker = f"update #{update.id}:"
    planned = db.session.scalar(
        select(IncidentEvent.id).where(
            IncidentEvent.incident_id == incident.id,
            IncidentEvent.kind == "fanout",
            IncidentEvent.detail.startswith(marker),
        )
    )
    if planned is not None:
        return None
    ticket_ids = linked_open_ticket_ids(incident.id)
    requesters = (
        set(db.session.scalars(select(Ticket.requester_id).where(Ticket.id.in_(ticket_ids)))) if ticket_ids else set()
    )
    contacts = contact_ids(incident, requesters)
    for n, chunk in enumerate(chunks(ticket_ids, TICKET_CHUNK)):
        outbox.emit(
            "incident.tickets",
            {"op": "reply", "update_id": update.id, "ticket_ids": chunk},
            dedupe_key=f"incident.tickets:reply:{update.id}:{n}",
        )
    for n, chunk in enumerate(chunks(contacts, CONTACT_CHUNK)):
        outbox.emit(
            "incident.emails",
            {"update_id": update.id, "user_ids": chunk},
            dedupe_key=f"incident.emails:{update.id}:{n}",
        )
    db.session.add(
        IncidentEvent(
            incident_id=incident.id,
            kind="fanout",
            detail=f"{marker} {len(ticket_ids)} linked tickets, {len(contacts)} contacts",
            actor_id=None,
        )
    )
    db.session.flush()
    return len(ticket_ids), len(contacts)


def plan_tickets(incident: Incident, op: str, extra: dict[str, Any], key: str) -> int:
    """Chunk jobs for ``op`` (solve, escalate) over the linked open tickets."""
    ticket_ids = linked_open_ticket_ids(incident.id)
    for n, chunk in enumerate(chunks(ticket_ids, TICKET_CHUNK)):
        outbox.emit(
            "incident.tickets",
            {"op": op, "incident_id": incident.id, "ticket_ids": chunk, **extra},
            dedupe_key=f"incident.tickets:{op}:{key}:{n}",
        )
    return len(ticket_ids)


def _open_tickets(ticket_ids: list[int]) -> list[Ticket]:
    return list(db.session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids)).order_by(Ticket.id)))


def reply_chunk(update: IncidentUpdate, ticket_ids: list[int]) -> int:
    """One public reply per ticket by the update's author; tickets that already have it are skipped."""
    incident = db.session.get(Incident, update.incident_id)
    author = update.author or incident.commander
    if author is None or not author.is_staff:
        return 0
    body = reply_body(incident, update)
    done = set(
        db.session.scalars(
            select(TicketEvent.ticket_id).where(
                TicketEvent.ticket_id.in_(ticket_ids),
                TicketEvent.kind == EventKind.public_reply,
                TicketEvent.author_id == author.id,
                TicketEvent.created_at >= update.created_at,
                TicketEvent.body == body,
            )
        )
    )
    replied = 0
    for ticket in _open_tickets(ticket_ids):
        if ticket.id in done or ticket.status is Status.closed:
            continue
        ticket_service.reply_to_ticket(author, ticket, body)
        replied += 1
    return replied


def solve_chunk(incident: Incident, actor: User, message: str, ticket_ids: list[int]) -> int:
    """A public reply with the final message and status solved, per ticket not solved or closed yet."""
    solved = 0
    for ticket in _open_tickets(ticket_ids):
        if ticket.status in (Status.solved, Status.closed):
            continue
        ticket_service.reply_to_ticket(actor, ticket, message, status=Status.solved.value)
        solved += 1
    return solved


# reason codes per step (portal.services.escalation.REASONS), by incident kind
_TO_L2 = {
    IncidentKind.outage: "technical_complexity",
    IncidentKind.security: "security",
    IncidentKind.data_loss: "data_corruption",
}
_TO_ENGINEERING = {
    IncidentKind.outage: "outage",
    IncidentKind.security: "infrastructure",
    IncidentKind.data_loss: "infrastructure",
}


def escalate_chunk(incident: Incident, actor: User | None, ticket_ids: list[int]) -> int:
    """Raise each open ticket tier by tier to engineering through ``tickets.escalate_ticket`` (reason per step,
    the incident's reference as the external issue). Steps the actor's role may not take are taken by the system
    on the incident's behalf (the incident timeline names who asked)."""
    raised = 0
    for ticket in _open_tickets(ticket_ids):
        if not ticket.is_open:
            continue
        while ticket.tier is not Tier.engineering:
            to = {Tier.l1: Tier.l2, Tier.l2: Tier.manager, Tier.manager: Tier.engineering}[ticket.tier]
            reason = {Tier.l2: _TO_L2[incident.kind], Tier.manager: "system_wide_issue"}.get(
                to, _TO_ENGINEERING[incident.kind]
            )
            who = actor if actor is not None and can_escalate(actor, ticket) else None
            try:
                ticket_service.escalate_ticket(
                    who,
                    ticket,
                    to_tier=to,
                    reason=reason,
                    external_ref=incident.reference if to is Tier.engineering else None,
                    expected_version=ticket.version,
                )
            except ServiceError:
                break
        raised += ticket.tier is Tier.engineering
    return raised
