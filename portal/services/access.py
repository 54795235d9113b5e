"""Who may see what: one place for the ticket visibility rules used by pages, partials, the API and exports."""

from __future__ import annotations

from sqlalchemy import Select, false, or_, select
from sqlalchemy.orm import selectinload

from portal.extensions import db
from portal.models import EventKind, Ticket, TicketEvent, User, parse_reference
from portal.services.errors import NotFound


def customer_scopes(actor: User) -> list:
    """The predicates whose union is what a customer may read: their organization's tickets and their own."""
    if not actor.is_active:
        return [false()]
    scopes = [Ticket.requester_id == actor.id]
    if actor.organization_id is not None:
        scopes.insert(0, Ticket.organization_id == actor.organization_id)
    return scopes


def visible_tickets(actor: User, stmt: Select | None = None) -> Select:
    """Restrict a ticket query to what ``actor`` may read: staff everything, customers their organization's
    tickets (or only their own when they belong to no organization)."""
    stmt = stmt if stmt is not None else select(Ticket)
    if actor.is_staff:
        return stmt
    return stmt.where(or_(*customer_scopes(actor)))


def can_read_ticket(actor: User, ticket: Ticket) -> bool:
    if actor.is_staff:
        return True
    if not actor.is_active:
        return False
    if ticket.requester_id == actor.id:
        return True
    return actor.organization_id is not None and ticket.organization_id == actor.organization_id


def get_ticket_for(actor: User, reference: str | int, *, for_update: bool = False) -> Ticket:
    """Load a ticket by reference (``ESG-000123``) or id and check that ``actor`` may read it; 404 otherwise —
    a customer cannot tell another organization's ticket from a missing one."""
    ticket_id = reference if isinstance(reference, int) else parse_reference(str(reference))
    if ticket_id is None:
        raise NotFound("No such ticket.")
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or not can_read_ticket(actor, ticket):
        raise NotFound("No such ticket.")
    return ticket


CUSTOMER_VISIBLE_FIELDS = ("status",)


def visible_events(actor: User, ticket: Ticket) -> list[TicketEvent]:
    """The ticket's timeline as ``actor`` may see it. Staff see everything; customers see what is theirs: the
    conversation (never internal notes), status changes and their own actions — not the desk's internal routing
    (tier, assignee, priority or category changes made by staff or the system)."""
    stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    if not actor.is_staff:
        stmt = stmt.where(
            TicketEvent.kind != EventKind.internal_note,
            or_(
                TicketEvent.kind != EventKind.field_change,
                TicketEvent.field.in_(CUSTOMER_VISIBLE_FIELDS),
                TicketEvent.author_id == actor.id,
            ),
        )
    return list(db.session.scalars(stmt.options(selectinload(TicketEvent.author))))
