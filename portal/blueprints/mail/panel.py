"""The template globals of the ticket pages' email parts: ``ticket_mail(ticket)`` for the agent's mail panel
(participants, the ticket's mails and how each was threaded, merge suggestions) and ``event_mail(event)`` for the
timeline's mail slot (one query per ticket page for all events, kept on ``g``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import g
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import load_only

from portal.extensions import db
from portal.models import InboundMessage, Ticket, TicketEvent
from portal.services.access import can_read_ticket
from portal.services.mail import pipeline
from portal.services.mail.merge import merge_refusal
from portal.services.mail.participants import participants_of

MAILS_SHOWN = 20
THREAD_METHODS = {
    "token": "Threaded by the signed reply token of one of our emails",
    "references": "Threaded by the Message-IDs it answers (In-Reply-To / References)",
    "subject": "Threaded by the ticket reference in its subject",
    "none": "Not threaded: it started a new ticket",
}
_COLUMNS = (
    InboundMessage.id,
    InboundMessage.ticket_id,
    InboundMessage.event_id,
    InboundMessage.suggested_ticket_id,
    InboundMessage.state,
    InboundMessage.outcome,
    InboundMessage.reason,
    InboundMessage.thread_method,
    InboundMessage.thread_detail,
    InboundMessage.from_address,
    InboundMessage.from_name,
    InboundMessage.subject,
    InboundMessage.received_at,
    InboundMessage.raw_truncated,
)


def thread_label(inbound: InboundMessage) -> str:
    method = inbound.thread_method or ""
    return THREAD_METHODS.get(method, f"Threaded by {method}" if method else "Threading not recorded")


@dataclass
class Suggestion:
    inbound: InboundMessage
    source: Ticket  # merged away (solved and closed)
    target: Ticket  # receives the text


@dataclass
class TicketMailPanel:
    participants: list = field(default_factory=list)
    mails: list[InboundMessage] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)

    def thread_label(self, inbound: InboundMessage) -> str:
        return thread_label(inbound)

    def outcome_label(self, inbound: InboundMessage) -> str:
        return pipeline.OUTCOMES.get(inbound.outcome, inbound.outcome or inbound.state.label)


def ticket_mail(ticket: Ticket | None) -> TicketMailPanel:
    """What the agent's mail panel shows for ``ticket`` (empty for anyone but staff)."""
    if ticket is None or not current_user.is_authenticated or not current_user.is_staff:
        return TicketMailPanel()
    mails = list(
        db.session.scalars(
            select(InboundMessage)
            .options(load_only(*_COLUMNS))
            .where(InboundMessage.ticket_id == ticket.id)
            .order_by(InboundMessage.id.desc())
            .limit(MAILS_SHOWN)
        )
    )
    # this ticket's mails that may belong elsewhere, and mails elsewhere that may belong here: those come from the
    # requester (a suggestion is "same sender, same subject"), so the sender index finds them without a scan
    pointing = list(
        db.session.scalars(
            select(InboundMessage)
            .options(load_only(*_COLUMNS))
            .where(InboundMessage.ticket_id == ticket.id, InboundMessage.suggested_ticket_id.is_not(None))
            .order_by(InboundMessage.id.desc())
            .limit(MAILS_SHOWN)
        )
    )
    address = (ticket.requester.email or "").strip()
    pointing += db.session.scalars(
        select(InboundMessage)
        .options(load_only(*_COLUMNS))
        .where(
            InboundMessage.from_address.in_({address, address.lower()}),
            InboundMessage.suggested_ticket_id == ticket.id,
            InboundMessage.ticket_id.is_not(None),
            InboundMessage.ticket_id != ticket.id,
        )
        .order_by(InboundMessage.id.desc())
        .limit(MAILS_SHOWN)
    )
    other_ids = {m.suggested_ticket_id if m.ticket_id == ticket.id else m.ticket_id for m in pointing}
    others = {t.id: t for t in db.session.scalars(select(Ticket).where(Ticket.id.in_(other_ids)))} if other_ids else {}
    suggestions: list[Suggestion] = []
    seen: set[tuple[int, int]] = set()
    for inbound in pointing:
        if inbound.ticket_id == ticket.id:
            source, target = ticket, others.get(inbound.suggested_ticket_id)
        else:
            source, target = others.get(inbound.ticket_id), ticket
        if source is None or target is None or (source.id, target.id) in seen or merge_refusal(source, target):
            continue
        seen.add((source.id, target.id))
        suggestions.append(Suggestion(inbound, source, target))
    return TicketMailPanel(participants=participants_of(ticket), mails=mails, suggestions=suggestions)


def _mails_by_event(ticket_id: int) -> dict[int, InboundMessage]:
    cache: dict[int, dict[int, InboundMessage]] = g.setdefault("_event_mail", {})
    if ticket_id not in cache:
        event_ids = select(TicketEvent.id).where(TicketEvent.ticket_id == ticket_id)
        rows = db.session.scalars(
            select(InboundMessage)
            .options(load_only(*_COLUMNS))
            .where(InboundMessage.event_id.in_(event_ids))
            .order_by(InboundMessage.id)
        )
        found: dict[int, InboundMessage] = {}
        for row in rows:
            found.setdefault(row.event_id, row)  # the first mail that made the event
        cache[ticket_id] = found
    return cache[ticket_id]


def event_mail(event: TicketEvent | None) -> dict[str, Any] | None:
    """For a timeline event made from a mail: the mail, whether the viewer sees how it was threaded (staff) and
    whether they may open the full original (staff; a customer who can read the ticket, for a public event)."""
    if event is None or getattr(event, "id", None) is None or not current_user.is_authenticated:
        return None
    inbound = _mails_by_event(event.ticket_id).get(event.id)
    if inbound is None:
        return None
    staff = current_user.is_staff
    if not staff and not event.kind.is_public:
        return None
    if not staff and not can_read_ticket(current_user, _ticket(event.ticket_id)):
        return None
    return {"inbound": inbound, "staff": staff, "method": thread_label(inbound) if staff else ""}


def _ticket(ticket_id: int) -> Ticket:
    return db.session.get(Ticket, ticket_id)  # in the identity map already: the page loaded it
