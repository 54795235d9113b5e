"""Which ticket a message belongs to, in a fixed order, with the reason in words: (a) a signed reply token in
In-Reply-To / References or the body marker; (b) In-Reply-To / References against the Message-IDs we know
(``TicketMailId``); (c) the ticket reference in the subject, accepted only from someone who belongs to the ticket.
When nothing matches, a recent open ticket of the sender on the same subject is offered for merging."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import OPEN_STATUSES, MailDirection, Ticket, TicketMailId, TicketParticipant, User, utcnow
from portal.models.tickets import format_reference, parse_reference
from portal.services.mail import tokens
from portal.services.mail.parse import Parsed


@dataclass
class Match:
    ticket: Ticket | None
    method: str  # token, references, subject, none
    detail: str
    token_user_id: int | None = None  # the user the matching token was made for (method "token")


def belongs_to(user: User, ticket: Ticket) -> bool:
    """The requester, a participant (by account or address) or a member of the ticket's organization."""
    if ticket.requester_id == user.id:
        return True
    if ticket.organization_id is not None and user.organization_id == ticket.organization_id:
        return True
    return (
        db.session.scalar(
            select(TicketParticipant.id).where(
                TicketParticipant.ticket_id == ticket.id,
                (TicketParticipant.user_id == user.id) | (TicketParticipant.email == user.email.lower()),
            )
        )
        is not None
    )


def _subject_reference_re() -> re.Pattern:
    prefix = re.escape(current_app.config.get("TICKET_PREFIX", "ESG"))
    return re.compile(rf"\b({prefix}-[0-9]{{1,12}})\b", re.IGNORECASE)


def _when(dt) -> str:
    return f"{dt:%Y-%m-%d %H:%M} UTC" if dt else "an unknown date"


def find(parsed: Parsed, sender: User, body: str) -> Match:
    """The ticket ``parsed`` (from ``sender``) replies to, or a Match with ticket None and why."""
    refused: list[str] = []
    # (a) signed reply tokens
    header_tokens = tokens.tokens_in_message_ids([*parsed.in_reply_to, *parsed.references])
    found = [(t, "In-Reply-To" if _in(t, parsed.in_reply_to) else "References") for t in header_tokens]
    body_token = tokens.token_in_body(body)
    if body_token is not None and body_token not in header_tokens:
        found.append((body_token, "the body marker"))
    for token, where in found:
        ticket = db.session.get(Ticket, token.ticket_id)
        if ticket is None:
            continue
        if sender.is_staff:
            if token.user_id == sender.id:
                return Match(ticket, "token", f"Matched by the reply token in {where}", token.user_id)
            refused.append(f"the reply token in {where} ({ticket.reference}) was made for someone else")
            continue
        if token.user_id == sender.id or belongs_to(sender, ticket):
            return Match(ticket, "token", f"Matched by the reply token in {where}", token.user_id)
        refused.append(
            f"the reply token in {where} names {ticket.reference} but the sender is neither the requester, "
            "a participant nor a member of its organization"
        )
    if sender.is_staff:
        why = "; ".join(refused) or "no reply token of this staff member"
        return Match(None, "none", f"Not threaded: {why}.")
    # (b) Message-IDs we know
    for ident in [*parsed.in_reply_to, *reversed(parsed.references)]:
        row = db.session.scalar(select(TicketMailId).where(TicketMailId.message_id == ident))
        if row is None:
            continue
        ticket = db.session.get(Ticket, row.ticket_id)
        if ticket is None:
            continue
        header = "In-Reply-To" if ident in parsed.in_reply_to else "References"
        whose = "our mail" if row.direction is MailDirection.outbound else "a mail we received"
        if belongs_to(sender, ticket):
            return Match(ticket, "references", f"Matched by {header} <{ident}> ({whose} of {_when(row.created_at)})")
        refused.append(
            f"{header} <{ident}> names {ticket.reference} but the sender is neither the requester, a participant "
            "nor a member of its organization"
        )
        break
    # (c) the reference in the subject
    for match in _subject_reference_re().finditer(parsed.subject or ""):
        ticket_id = parse_reference(match.group(1))
        ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
        reference = format_reference(ticket_id) if ticket_id else match.group(1)
        if ticket is None:
            refused.append(f"the subject names {reference}, which does not exist")
            continue
        if belongs_to(sender, ticket):
            return Match(ticket, "subject", f"Matched by the reference {reference} in the subject")
        refused.append(
            f"the subject names {reference} but the sender is neither the requester, a participant nor a member "
            "of its organization"
        )
    if refused:
        return Match(None, "none", "Not threaded: " + "; ".join(refused) + ".")
    return Match(None, "none", "Not threaded: no reply token, known Message-ID or ticket reference.")


def _in(token: tokens.ReplyToken, values: list[str]) -> bool:
    return bool(tokens.tokens_in_message_ids(values)) and token in tokens.tokens_in_message_ids(values)


_SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|fwd?|aw|wg|sv|vs|tr|antw|r)\s*(?:\[\d+\])?\s*:\s*)", re.IGNORECASE)


def normalize_subject(subject: str) -> str:
    """Re:/Fwd:/AW:/SV:/[ESG-…] stripped, whitespace collapsed, case-folded."""
    prefix = re.escape(current_app.config.get("TICKET_PREFIX", "ESG"))
    text = re.sub(rf"\[?\s*{prefix}-[0-9]{{1,12}}\s*\]?", " ", subject or "", flags=re.IGNORECASE)
    previous = None
    while previous != text:
        previous = text
        text = _SUBJECT_PREFIX.sub("", text).strip()
    return re.sub(r"\s+", " ", text).strip().casefold()


def merge_candidate(sender: User, subject: str, exclude_id: int | None = None) -> Ticket | None:
    """The one open ticket of ``sender`` filed in the last MAIL_MERGE_SUGGEST_DAYS days on the same normalized
    subject (None when there is none or more than one)."""
    wanted = normalize_subject(subject)
    if not wanted:
        return None
    since = utcnow() - timedelta(days=int(current_app.config.get("MAIL_MERGE_SUGGEST_DAYS", 14)))
    stmt = select(Ticket).where(
        Ticket.requester_id == sender.id,
        Ticket.status.in_(OPEN_STATUSES),
        Ticket.created_at >= since,
    )
    if exclude_id is not None:
        stmt = stmt.where(Ticket.id != exclude_id)
    hits = [
        t for t in db.session.scalars(stmt.order_by(Ticket.id).limit(200)) if normalize_subject(t.subject) == wanted
    ]
    return hits[0] if len(hits) == 1 else None


def known_ticket_for_ids(idents: list[str]) -> Ticket | None:
    """The ticket one of these Message-IDs belongs to (a bounce naming our mail), or None."""
    if not idents:
        return None
    row = db.session.scalar(
        select(TicketMailId).where(func.lower(TicketMailId.message_id).in_([i.lower() for i in idents])).limit(1)
    )
    if row is not None:
        return db.session.get(Ticket, row.ticket_id)
    for ident in idents:  # our notifications carry a token in their Message-ID
        for token in tokens.tokens_in_message_ids([ident]):
            ticket = db.session.get(Ticket, token.ticket_id)
            if ticket is not None:
                return ticket
    return None
