"""The people copied on a ticket's conversation (``TicketParticipant``): listed on the agent's ticket page, added or
removed there by staff. The CCs of a mailed-in ticket are added by the inbound pipeline (source "email"); a
participant receives the ticket's public replies by email and their reply threads to the ticket."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Ticket, User, utcnow
from portal.models.mail import TicketParticipant
from portal.services.accounts import normalize_email
from portal.services.errors import Forbidden, NotFound, ValidationFailed

MAX_PER_TICKET = 50


def participants_of(ticket: Ticket) -> list[TicketParticipant]:
    return list(
        db.session.scalars(
            select(TicketParticipant).where(TicketParticipant.ticket_id == ticket.id).order_by(TicketParticipant.id)
        )
    )


def _require_staff(actor: User) -> None:
    if not actor.is_staff:
        raise Forbidden("Only the support team manages who is copied on a ticket.")


def add_participant(actor: User, ticket: Ticket, email: str) -> TicketParticipant:
    """Copy ``email`` on ``ticket`` (validated, lower-cased; linked to its account when there is one). Flushes."""
    _require_staff(actor)
    address = normalize_email(email)  # ValidationFailed {"email": ...} for a malformed address
    if address == (ticket.requester.email or "").lower():
        raise ValidationFailed("The requester already receives every reply.", {"email": "This is the requester."})
    existing = db.session.scalar(
        select(TicketParticipant).where(TicketParticipant.ticket_id == ticket.id, TicketParticipant.email == address)
    )
    if existing is not None:
        raise ValidationFailed("Already copied.", {"email": f"{address} is already copied on this ticket."})
    count = (
        db.session.scalar(
            select(func.count()).select_from(TicketParticipant).where(TicketParticipant.ticket_id == ticket.id)
        )
        or 0
    )
    if count >= MAX_PER_TICKET:
        raise ValidationFailed("Too many participants.", {"email": f"At most {MAX_PER_TICKET} people per ticket."})
    user = db.session.scalar(select(User).where(func.lower(User.email) == address))
    participant = TicketParticipant(
        ticket_id=ticket.id,
        email=address,
        user_id=user.id if user else None,
        added_by_id=actor.id,
        source="agent",
        created_at=utcnow(),
    )
    db.session.add(participant)
    db.session.flush()
    return participant


def remove_participant(actor: User, ticket: Ticket, participant_id: int) -> TicketParticipant:
    """Stop copying one participant on ``ticket``. Flushes."""
    _require_staff(actor)
    participant = db.session.get(TicketParticipant, participant_id)
    if participant is None or participant.ticket_id != ticket.id:
        raise NotFound("No such participant on this ticket.")
    db.session.delete(participant)
    db.session.flush()
    return participant


def copy_participants(source: Ticket, target: Ticket) -> int:
    """Copy the participants of ``source`` that ``target`` lacks (a merge). Flushes; returns how many."""
    have = {p.email for p in participants_of(target)} | {(target.requester.email or "").lower()}
    added = 0
    for participant in participants_of(source):
        if participant.email in have:
            continue
        have.add(participant.email)
        db.session.add(
            TicketParticipant(
                ticket_id=target.id,
                email=participant.email,
                user_id=participant.user_id,
                added_by_id=participant.added_by_id,
                source=participant.source,
                created_at=utcnow(),
            )
        )
        added += 1
    db.session.flush()
    return added
