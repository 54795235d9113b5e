"""Merging a mailed-in ticket into the ticket it belongs to (the merge the ticket page suggests when a new mail had
the same sender and subject as a recent open ticket).

Everything goes through ``portal.services.tickets`` so every effect runs: the source ticket's customer text becomes
a public reply by its requester on the target; the source gets an internal note and is solved, then closed. The
source's mails (``InboundMessage``), known Message-IDs, participants and the files of the moved text follow to the
target, so later replies thread there. Nothing is committed here: the caller commits both tickets at once.
"""

from __future__ import annotations

from sqlalchemy import select, update

from portal.extensions import db
from portal.models import Attachment, EventKind, Status, Ticket, TicketEvent, User
from portal.models.mail import InboundMessage, TicketMailId
from portal.services import audit
from portal.services import tickets as ticket_service
from portal.services.changes import quietly
from portal.services.errors import Forbidden, ValidationFailed
from portal.services.mail.participants import copy_participants


def customer_events(ticket: Ticket) -> list[TicketEvent]:
    """The requester's own public text on ``ticket``: the description and their replies, in order."""
    return list(
        db.session.scalars(
            select(TicketEvent)
            .where(
                TicketEvent.ticket_id == ticket.id,
                TicketEvent.author_id == ticket.requester_id,
                TicketEvent.kind.in_([EventKind.created, EventKind.public_reply]),
            )
            .order_by(TicketEvent.id)
        )
    )


def merge_refusal(source: Ticket, target: Ticket) -> str | None:
    """Why ``source`` cannot be merged into ``target`` (None: it can)."""
    if source.id == target.id:
        return "A ticket cannot be merged into itself."
    if Status.closed in (source.status, target.status):
        return "Closed tickets cannot be merged."
    if source.organization_id != target.organization_id or (
        source.organization_id is None and source.requester_id != target.requester_id
    ):
        return "The tickets belong to different organizations' requesters."
    return None


def merge_into(
    actor: User, source: Ticket, target: Ticket, expected_versions: tuple[int | str | None, int | str | None]
) -> TicketEvent:
    """Merge ``source`` into ``target`` against the versions the agent saw, as (source version, target version).
    Returns the reply added to ``target``. Raises ``Conflict`` for a stale version, ``ValidationFailed`` when
    the tickets cannot be merged. Flushes, never commits."""
    if not actor.is_staff:
        raise Forbidden("Only the support team can merge tickets.")
    source_version, target_version = expected_versions
    ticket_service.check_version(source, source_version)
    ticket_service.check_version(target, target_version)
    refusal = merge_refusal(source, target)
    if refusal:
        raise ValidationFailed(refusal, {"merge": refusal})
    events = customer_events(source)
    texts = [e.body.strip() for e in events if e.body and e.body.strip()] or [source.description]
    header = f"(Merged from {source.reference}: {source.subject})"
    body = (header + "\n\n" + "\n\n---\n\n".join(texts))[: ticket_service.BODY_MAX]
    reply = ticket_service.reply_to_ticket(source.requester, target, body)
    if not isinstance(reply, TicketEvent):  # the target was closed meanwhile: refused above, never filed anew
        raise ValidationFailed("The target ticket is closed.", {"merge": "The target ticket is closed."})
    db.session.flush()
    _move_mail(source, target, reply, [e.id for e in events])
    copy_participants(source, target)
    with quietly(db.session, source.id):  # the requester hears of the target's reply, not of the duplicate closing
        ticket_service.reply_to_ticket(actor, source, f"Merged into {target.reference}.", internal=True)
        if source.status is not Status.solved:
            ticket_service.change_status(actor, source, Status.solved.value, expected_version=source.version)
        ticket_service.change_status(actor, source, Status.closed.value, expected_version=source.version)
    audit.record(
        "mail.merged",
        target=source,
        after={"merged_into": target.reference, "reply_event_id": reply.id},
        detail=f"{source.reference} merged into {target.reference}",
        actor=actor,
    )
    db.session.flush()
    return reply


def _move_mail(source: Ticket, target: Ticket, reply: TicketEvent, event_ids: list[int]) -> None:
    """The source's mails and Message-IDs now belong to the target (its reply stands for the mails' text), the
    files of the moved text go with it, and no suggestion between the two is offered again."""
    db.session.execute(
        update(InboundMessage)
        .where(InboundMessage.ticket_id == source.id)
        .values(ticket_id=target.id, event_id=reply.id, suggested_ticket_id=None)
        .execution_options(synchronize_session="fetch")
    )
    db.session.execute(
        update(InboundMessage)
        .where(InboundMessage.ticket_id == target.id, InboundMessage.suggested_ticket_id == source.id)
        .values(suggested_ticket_id=None)
        .execution_options(synchronize_session="fetch")
    )
    db.session.execute(
        update(TicketMailId)
        .where(TicketMailId.ticket_id == source.id)
        .values(ticket_id=target.id)
        .execution_options(synchronize_session="fetch")
    )
    if event_ids:
        db.session.execute(
            update(Attachment)
            .where(Attachment.event_id.in_(event_ids))
            .values(ticket_id=target.id, event_id=reply.id)
            .execution_options(synchronize_session="fetch")
        )
