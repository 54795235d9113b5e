"""A chat becomes a ticket when it ends: channel ``chat``, the visitor as requester, the first visitor line as the
description and every later line as a public reply of its author, in order (so the agent's first chat line is the
ticket's first response). The visitor is emailed the transcript once, at their account's verified address.

The ticket is filed from the transcript at the end rather than at the start: a chat answered live does not sit in
the queue while it runs, and an unanswered one (nobody accepted in time) lands as an ordinary new ticket. Its
history carries the chat's own instants, though: the ticket was created when the visitor wrote the first line, and
each reply (the agent's first line is the first response) when it was written, so the SLA clocks and the reports
count the chat as it happened, not as if it were all said at the end.
"""

from __future__ import annotations

from contextlib import suppress

from sqlalchemy import select

from portal.extensions import db
from portal.models import OutboxMessage, Ticket, TicketEvent, TierSpan, utcnow
from portal.models.chat import Chat, ChatMessage
from portal.params import single_line
from portal.services import outbox, sla, tickets
from portal.services.errors import ServiceError

SUBJECT_WORDS = 80


def transcript_of(chat: Chat) -> list[ChatMessage]:
    return list(db.session.scalars(select(ChatMessage).where(ChatMessage.chat_id == chat.id).order_by(ChatMessage.id)))


def file_ticket(chat: Chat) -> Ticket | None:
    """File the ended chat's ticket (once) and record the transcript email in the outbox."""
    if chat.ticket_id is not None:
        return db.session.get(Ticket, chat.ticket_id)
    lines = [m for m in transcript_of(chat) if m.kind in ("visitor", "agent") and m.author is not None]
    if not lines or lines[0].kind != "visitor":
        return None
    visitor = chat.visitor
    first, rest = lines[0], lines[1:]
    ticket = tickets.create_ticket(
        visitor, subject=f"Chat: {single_line(first.body)[:SUBJECT_WORDS]}", description=first.body, channel="chat"
    )
    instants = dict.fromkeys(_events_after(ticket, 0), first.created_at)
    reply_mails = []
    for line in rest:
        if line.kind == "agent" and not line.author.is_staff:
            continue  # the author's role changed since: their line stays in the chat, not in the ticket
        event = tickets.reply_to_ticket(visitor if line.kind == "visitor" else line.author, ticket, line.body)
        reply_mails.append(f"notify.ticket_reply:{event.id}")
        # the reply and what it changed (a first staff reply opens the ticket) happened when the line was written
        instants.update(dict.fromkeys(_events_after(ticket, max(instants)), line.created_at))
    _as_it_happened(ticket, first.created_at, instants)
    agent = chat.agent
    if agent is not None and agent.is_active and agent.is_staff and ticket.assignee_id != agent.id:
        with suppress(ServiceError):  # refused: the ticket keeps the assignee routing chose
            tickets.assign_ticket(agent, ticket, agent.id, expected_version=ticket.version)
    if reply_mails:
        # The visitor read every agent line live and gets the whole transcript in one email below: one email per
        # line, sent after the chat, would only repeat it.
        db.session.flush()
        for message in db.session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key.in_(reply_mails))):
            db.session.delete(message)
    chat.ticket_id = ticket.id
    outbox.emit("chat.transcript", {"chat_id": chat.id}, dedupe_key=f"chat.transcript:{chat.id}")
    db.session.flush()
    return ticket


def _events_after(ticket: Ticket, event_id: int) -> list[int]:
    db.session.flush()
    return list(
        db.session.scalars(select(TicketEvent.id).where(TicketEvent.ticket_id == ticket.id, TicketEvent.id > event_id))
    )


def _as_it_happened(ticket: Ticket, started_at, instants: dict[int, object]) -> None:
    """Put the chat's instants on the ticket's history (creation, each reply, the first response, the first tier
    span) and let the SLA clock look again from that history: a threshold crossed during the chat is recorded at its
    logical instant, as a breach between two sweeps is."""
    for event in db.session.scalars(select(TicketEvent).where(TicketEvent.id.in_(list(instants)))):
        event.created_at = instants[event.id]
    ticket.created_at = started_at
    staff_replies = [
        instants[e.id]
        for e in db.session.scalars(select(TicketEvent).where(TicketEvent.id.in_(list(instants))))
        if e.kind.value == "public_reply" and e.author is not None and e.author.is_staff
    ]
    if staff_replies:
        ticket.first_response_at = min(staff_replies)
    span = db.session.scalar(select(TierSpan).where(TierSpan.ticket_id == ticket.id).order_by(TierSpan.id).limit(1))
    if span is not None and span.started_at > started_at:
        span.started_at = started_at  # the first tier held it from the start
    db.session.flush()
    sla.refresh(ticket, utcnow())
