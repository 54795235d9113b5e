"""The inbound mail pipeline: every message is stored raw first (``receive``), then classified and applied
(``process``) inside a SAVEPOINT, so one bad message rolls back only its own changes and waits in quarantine with
its reason while the others go on. Outcomes: a new ticket, a reply, a follow-up of a closed ticket, a staff reply
(only with the staff member's signed reply token), an ignored record (duplicates, auto-replies, bulk mail, bounces,
our own mail) or a quarantined message (``REASONS``). Callers commit."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parseaddr

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import (
    Channel,
    EventKind,
    InboundMessage,
    InboundSource,
    InboundState,
    MailDirection,
    Ticket,
    TicketEvent,
    TicketMailId,
    TicketParticipant,
    User,
    utcnow,
)
from portal.services import outbox
from portal.services import tickets as ticket_service
from portal.services.accounts import find_user_by_email
from portal.services.errors import ValidationFailed
from portal.services.mail import content, outgoing, parse, senders, threading
from portal.services.mail.threading import Match

log = logging.getLogger(__name__)

REASONS: dict[str, str] = {
    # quarantined
    "oversize": "Too large",
    "parse_error": "Cannot be read",
    "malformed_from": "Missing or malformed sender",
    "staff_unverified": "Staff address without a valid reply token",
    "unknown_sender": "Unknown sender",
    "sender_inactive": "Sender's account is disabled",
    "ticket_closed": "Staff reply to a closed ticket",
    "error": "Processing failed",
    # ignored
    "duplicate": "Duplicate (same Message-ID)",
    "auto_reply": "Automatic reply",
    "bulk": "Bulk or mailing-list mail",
    "bounce": "Bounce (delivery report)",
    "own_address": "Sent from our own address (loop)",
    "unsubscribe": "Unsubscribe request (handled)",
}
OUTCOMES: dict[str, str] = {
    "new_ticket": "New ticket",
    "reply": "Reply",
    "follow_up": "Follow-up of a closed ticket",
    "staff_reply": "Staff reply",
    "released": "Released as a new ticket",
    "ignored": "Ignored",
    "quarantined": "Quarantined",
    "discarded": "Discarded",
}
# Quarantine reasons an admin can release: the message itself is readable and has one trustworthy sender.
RELEASABLE = frozenset({"staff_unverified", "unknown_sender", "sender_inactive", "ticket_closed", "error"})
NO_TEXT = "(The message had no text.)"
MAX_PARTICIPANTS = 20


class ReleaseRefused(ValidationFailed):
    """This message cannot be released or reprocessed (it cannot be read, has no sender, or is not waiting)."""


@dataclass
class Result:
    state: InboundState
    reason: str = ""
    detail: str = ""
    outcome: str = ""
    thread_method: str = ""
    thread_detail: str = ""
    ticket_id: int | None = None
    event_id: int | None = None
    sender_id: int | None = None
    suggested_ticket_id: int | None = None


def _quarantine(reason: str, detail: str, **kw) -> Result:
    return Result(InboundState.quarantined, reason, detail, outcome="quarantined", **kw)


# --------------------------------------------------------------------------- storing


def _imap_row(folder, uidvalidity, uid) -> InboundMessage | None:
    return db.session.scalar(
        select(InboundMessage).where(
            InboundMessage.imap_folder == folder,
            InboundMessage.imap_uidvalidity == uidvalidity,
            InboundMessage.imap_uid == uid,
        )
    )


def receive(
    raw: bytes,
    *,
    source: InboundSource,
    imap_folder: str | None = None,
    imap_uidvalidity: int | None = None,
    imap_uid: int | None = None,
    looked_up: bool = False,
) -> InboundMessage:
    """Store ``raw`` (up to MAIL_RAW_MAX bytes) with its header summary, state received; flushes, never commits.
    With an IMAP key that is already stored, returns that row (``looked_up``: the caller has just checked that it is
    not, for a whole batch at once; a race is still settled by the unique key)."""
    keyed = imap_folder is not None and imap_uidvalidity is not None and imap_uid is not None
    if keyed and not looked_up:
        existing = _imap_row(imap_folder, imap_uidvalidity, imap_uid)
        if existing is not None:
            return existing
    raw = bytes(raw or b"")
    cap = int(current_app.config.get("MAIL_RAW_MAX", 30 * 1024 * 1024))
    head = parse.summary(raw)
    inbound = InboundMessage(
        source=InboundSource(source),
        state=InboundState.received,
        message_id=head.message_id,
        from_address=head.from_address,
        from_name=head.from_name,
        to_addresses=head.to_addresses,
        subject=head.subject,
        size=len(raw),
        raw=raw[:cap],
        raw_truncated=len(raw) > cap,
        imap_folder=imap_folder,
        imap_uidvalidity=imap_uidvalidity,
        imap_uid=imap_uid,
        received_at=utcnow(),
    )
    if not keyed or db.session.get_bind().dialect.name == "sqlite":
        # SQLite serializes writers (and a SAVEPOINT as a transaction's first statement would commit on release)
        db.session.add(inbound)
        db.session.flush()
        return inbound
    try:
        with db.session.begin_nested():
            db.session.add(inbound)
    except IntegrityError:  # another poller stored the same IMAP message a moment ago
        existing = _imap_row(imap_folder, imap_uidvalidity, imap_uid)
        if existing is None:
            raise
        return existing
    return inbound


def ingest(raw: bytes, *, source: InboundSource) -> InboundMessage:
    """Receive, commit (the raw message is safe), process, commit."""
    inbound = receive(raw, source=source)
    db.session.commit()
    process(inbound)
    db.session.commit()
    return inbound


def finish_stored(*, older_than: timedelta = timedelta(minutes=2), limit: int = 200) -> int:
    """Process messages that were stored but never processed (``mail ingest`` or a poll interrupted after the raw
    commit, the database gone in between): each in its own commit, oldest first. The mailbox poll finishes its own
    (it knows their IMAP keys); this picks up the rest once they are ``older_than`` (so a message being processed
    right now is left alone). Returns how many were processed."""
    cutoff = utcnow() - older_than
    ids = db.session.scalars(
        select(InboundMessage.id)
        .where(InboundMessage.state == InboundState.received, InboundMessage.received_at < cutoff)
        .order_by(InboundMessage.id)
        .limit(limit)
    ).all()
    done = 0
    for inbound_id in ids:
        inbound = db.session.get(InboundMessage, inbound_id)
        if inbound is None or inbound.state is not InboundState.received:
            continue
        process(inbound)
        db.session.commit()
        done += 1
    return done


# --------------------------------------------------------------------------- processing


def process(inbound: InboundMessage, *, _release_by: User | None = None) -> InboundMessage:
    """Classify and apply one message; never raises for a bad message (a failure rolls back this message's changes
    only and quarantines it as "error"). Only a message in state received is processed (``reprocess`` and
    ``release_as_new_ticket`` put a quarantined one back); any other is returned as it is. The caller commits."""
    if inbound.state is not InboundState.received:
        return inbound
    inbound.attempts = (inbound.attempts or 0) + 1
    db.session.flush()  # also opens the transaction before the SAVEPOINT (pysqlite)
    try:
        with db.session.begin_nested():
            result = _apply(inbound, _release_by)
            _record(inbound, result)
            db.session.flush()
    except IntegrityError as exc:
        key = _dedupe_key(parse.summary(inbound.raw).message_id, inbound.raw)
        first = _processed_copy(inbound, key)
        if first is not None:
            result = Result(InboundState.ignored, "duplicate", _duplicate_detail(first), outcome="ignored")
        else:
            log.exception("inbound message %s failed", inbound.id)
            result = _quarantine("error", f"{exc.__class__.__name__}: {str(exc.orig)[:500]}")
        _record(inbound, result)
    except Exception as exc:  # one message's failure never stops the others: it waits for an admin
        log.exception("inbound message %s failed", inbound.id)
        _record(inbound, _quarantine("error", f"{exc.__class__.__name__}: {str(exc)[:500]}"))
    db.session.flush()
    return inbound


def _record(inbound: InboundMessage, result: Result) -> None:
    inbound.state = result.state
    inbound.reason = result.reason
    inbound.detail = result.detail
    inbound.outcome = result.outcome
    inbound.thread_method = result.thread_method
    inbound.thread_detail = result.thread_detail
    inbound.ticket_id = result.ticket_id
    inbound.event_id = result.event_id
    inbound.sender_id = result.sender_id
    inbound.suggested_ticket_id = result.suggested_ticket_id
    inbound.processed_at = utcnow()
    if result.state is not InboundState.processed:
        inbound.dedupe_key = None  # only the processed copy holds the Message-ID


def _processed_copy(inbound: InboundMessage, key: str | None) -> InboundMessage | None:
    if not key:
        return None
    return db.session.scalar(
        select(InboundMessage).where(InboundMessage.dedupe_key == key, InboundMessage.id != inbound.id)
    )


def _dedupe_key(message_id: str, raw: bytes) -> str | None:
    """The digest of the normalized Message-ID; a message without one (some scripts send none) is known by its
    bytes instead, so an MTA's retry of the same delivery still files one ticket."""
    return parse.dedupe_key(message_id) or hashlib.sha256(b"raw\0" + (raw or b"")).hexdigest()


def _duplicate_detail(first: InboundMessage) -> str:
    where = f" (ticket #{first.ticket_id})" if first.ticket_id else ""
    return (
        f"A copy of message #{first.id}{where}, which has the same Message-ID (or, without one, the same bytes) "
        "and was already processed."
    )


def _apply(inbound: InboundMessage, release_by: User | None) -> Result:
    config = current_app.config
    limit = int(config.get("MAIL_MAX_MESSAGE_BYTES", 30 * 1024 * 1024))
    if inbound.raw_truncated or (inbound.size or 0) > limit:
        return _quarantine("oversize", f"The message has {inbound.size:,} bytes; the limit is {limit:,}.")
    try:
        parsed = parse.parse(inbound.raw)
    except parse.ParseError as exc:
        return _quarantine("parse_error", f"The message cannot be read: {exc}")
    message = parsed.message

    # machine mail first: never answered, never a ticket, never a reopen
    loose_from = parseaddr(str(message.get("From") or ""))[1].lower() if "From" in message else ""
    noisy = parse.noise(message, parsed.from_address or loose_from)
    if noisy is not None and release_by is None:
        reason, detail = noisy
        ticket_id = None
        if reason == "bounce":
            ticket = threading.known_ticket_for_ids(parse.bounced_message_ids(message))
            if ticket is not None:
                ticket_id = ticket.id
                detail += f" It is about our mail on {ticket.reference} (linked for display; nothing changed)."
        return Result(InboundState.ignored, reason, detail, outcome="ignored", ticket_id=ticket_id)
    if parsed.from_problem:
        return _quarantine("malformed_from", parsed.from_problem)
    if release_by is None and parsed.subject.lower().startswith("unsubscribe "):
        done = outgoing.unsubscribe_by_mail(parsed.subject)  # the mailto: of our List-Unsubscribe headers
        if done is not None:
            return Result(
                InboundState.ignored,
                "unsubscribe",
                f"An unsubscribe request: {done.preference} turned off for {done.user.email}.",
                outcome="ignored",
                sender_id=done.user.id,
            )

    key = _dedupe_key(parsed.message_id, inbound.raw)
    if key:
        with db.session.no_autoflush:  # reads committed rows only: no flush needed (fewer flushes per message)
            first = _processed_copy(inbound, key)
        if first is not None:
            return Result(InboundState.ignored, "duplicate", _duplicate_detail(first), outcome="ignored")
        inbound.dedupe_key = key
        db.session.flush()  # the unique index settles a race between two processors of two copies

    found = senders.resolve(parsed.from_address, parsed.from_name, accept_unknown=release_by is not None)
    sender = found.user
    if sender is None and release_by is not None and found.reason == "sender_inactive":
        sender = find_user_by_email(parsed.from_address)
    if sender is None:
        return _quarantine(found.reason, found.detail)

    whole, _from_html = content.body_text(message)
    text = _clean_body(content.strip_quoted(whole))
    notes: list[str] = []
    candidate: Ticket | None = None
    if found.created:
        notes.append(found.detail)

    if release_by is not None:
        match = Match(None, "none", f"Released as a new ticket by {release_by.name}.")
    else:
        match = threading.find(parsed, sender, whole)

    if sender.is_staff and release_by is None:
        if match.ticket is None:
            return _quarantine(
                "staff_unverified",
                f"{sender.email} is a staff address, but the mail carries no valid reply token of theirs, so it "
                f"cannot act as staff. {match.detail}",
                sender_id=sender.id,
                thread_method=match.method,
                thread_detail=match.detail,
            )
        try:
            event = ticket_service.reply_to_ticket(sender, match.ticket, text)
        except ValidationFailed as exc:
            return _quarantine(
                "ticket_closed", f"{match.ticket.reference}: {exc.message}", sender_id=sender.id,
                ticket_id=match.ticket.id, thread_method=match.method, thread_detail=match.detail,
            )  # fmt: skip
        ticket, outcome, thread_detail = match.ticket, "staff_reply", match.detail
    elif match.ticket is not None:
        replied = ticket_service.reply_to_ticket(sender, match.ticket, text)
        if isinstance(replied, Ticket):
            ticket, event, outcome = replied, _created_event(replied), "follow_up"
            thread_detail = (
                f"{match.detail}; {match.ticket.reference} is closed, so this became its follow-up {ticket.reference}"
            )
        else:
            ticket, event, outcome, thread_detail = match.ticket, replied, "reply", match.detail
    else:
        ticket = ticket_service.create_ticket(
            sender, subject=_clean_subject(parsed.subject), description=text, channel=Channel.email
        )
        event = _created_event(ticket)
        outcome = "released" if release_by is not None else "new_ticket"
        thread_detail = match.detail
        _add_participants(ticket, parsed, sender)
        if release_by is None:
            with db.session.no_autoflush:  # the sender's other tickets are all flushed already
                candidate = threading.merge_candidate(sender, parsed.subject, exclude_id=ticket.id)
            if candidate is not None:
                thread_detail += f" {candidate.reference} of the same sender has the same subject: merge suggested."
        if sender.is_customer:
            outbox.emit(
                "mail.acknowledge",
                {"inbound_id": inbound.id, "ticket_id": ticket.id},
                dedupe_key=f"mail-ack:{inbound.id}",
            )
    _remember_message_id(parsed, ticket, event, sender)
    refused = _store_files(message, sender, ticket, event, inbound)
    if refused:
        thread_detail += " " + " ".join(refused)
    return Result(
        InboundState.processed,
        detail=" ".join([*notes, *refused]),
        outcome=outcome,
        thread_method=match.method,
        thread_detail=thread_detail,
        ticket_id=ticket.id,
        event_id=event.id if event is not None else None,
        sender_id=sender.id,
        suggested_ticket_id=candidate.id if candidate is not None else None,
    )


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_MARKER = re.compile(r"\[ref:r-[0-9]+-[0-9]+-[a-z2-7]{20}\]")


def _clean_body(text: str) -> str:
    text = _MARKER.sub("", _CONTROL.sub("", text or "")).strip()
    if not text:
        return NO_TEXT
    limit = ticket_service.BODY_MAX - 100
    if len(text) > limit:
        text = text[:limit].rstrip() + "\n\n[… shortened; the full original is kept with the message]"
    return text


def _clean_subject(subject: str) -> str:
    subject = re.sub(r"\s+", " ", _CONTROL.sub("", subject or "")).strip()
    return (subject or "(no subject)")[: ticket_service.SUBJECT_MAX]


def _created_event(ticket: Ticket) -> TicketEvent | None:
    # create_ticket flushed the event: no autoflush needed for this read (filing by mail is a hot path)
    with db.session.no_autoflush:
        return db.session.scalar(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.created)
            .order_by(TicketEvent.id)
            .limit(1)
        )


def _add_participants(ticket: Ticket, parsed: parse.Parsed, sender: User) -> None:
    """The people the customer copied (To/Cc other than us and the sender) join the ticket's conversation."""
    own = parse.own_addresses()
    seen: set[str] = set()
    for address in parsed.to:
        if address in own or address == sender.email.lower() or address in seen or len(seen) >= MAX_PARTICIPANTS:
            continue
        seen.add(address)
        user = find_user_by_email(address)
        db.session.add(
            TicketParticipant(
                ticket_id=ticket.id, email=address[:320], user_id=user.id if user else None, source="email"
            )
        )
    db.session.flush()


def _remember_message_id(parsed: parse.Parsed, ticket: Ticket, event: TicketEvent | None, sender: User) -> None:
    """So a reply-all of someone copied (In-Reply-To = this mail) threads to the same ticket."""
    ident = parse.normalize_message_id(parsed.message_id)
    if not ident or len(ident) > 500:
        return
    with db.session.no_autoflush:  # nothing pending in this message writes a Message-ID row
        known = db.session.scalar(select(TicketMailId.id).where(TicketMailId.message_id == ident))
    if known is not None:
        return
    db.session.add(
        TicketMailId(
            message_id=ident,
            ticket_id=ticket.id,
            event_id=event.id if event is not None else None,
            user_id=sender.id,
            direction=MailDirection.inbound,
        )
    )
    db.session.flush()


def _store_files(
    message, sender: User, ticket: Ticket, event: TicketEvent | None, inbound: InboundMessage
) -> list[str]:
    """Attachments and inline images through the attachment service; a refused file is noted, never fatal."""
    parts = content.files(message)
    if not parts:
        return []
    try:
        from portal.services import attachments as attachment_service
    except ImportError:  # not installed in this build: the files stay in the raw message
        return [f"Attachments not stored (no attachment service): {', '.join(p.filename for p in parts)}."]
    notes: list[str] = []
    for part in parts:
        try:
            with db.session.begin_nested():
                attachment_service.store(
                    part.data,
                    part.filename,
                    uploader=sender,
                    ticket=ticket,
                    event=event,
                    inbound=inbound,
                    inline=part.inline,
                    content_id=part.content_id,
                )
        except ValidationFailed as exc:
            why = "; ".join(exc.fields.values()) or exc.message
            notes.append(f"Attachment {part.filename!r} refused: {why}")
    return notes


# --------------------------------------------------------------------------- admin actions


def reprocess(inbound: InboundMessage, actor: User) -> InboundMessage:
    """Run a quarantined (or never processed) message through the pipeline again, e.g. after its sender was
    enabled. The caller commits."""
    if inbound.state not in (InboundState.quarantined, InboundState.received):
        raise ReleaseRefused(f"Message #{inbound.id} is {inbound.state.value}; only quarantined messages are retried.")
    inbound.handled_by_id = actor.id
    inbound.state = InboundState.received
    return process(inbound)


def release_as_new_ticket(inbound: InboundMessage, actor: User) -> InboundMessage:
    """File a quarantined message as a new ticket, ignoring the rule that quarantined it (unknown sender, staff
    address without token, disabled account, a processing error). A message that cannot be read or has no
    trustworthy sender (oversize, parse_error, malformed_from) cannot be released. The caller commits."""
    if inbound.state is not InboundState.quarantined:
        raise ReleaseRefused(f"Message #{inbound.id} is {inbound.state.value}; only quarantined messages are released.")
    if inbound.reason not in RELEASABLE:
        raise ReleaseRefused(
            f"Message #{inbound.id} cannot be released: {REASONS.get(inbound.reason, inbound.reason).lower()} "
            "(there is no readable message with one trustworthy sender to file). Discard it, or download the "
            "original and file a ticket by hand."
        )
    inbound.handled_by_id = actor.id
    inbound.state = InboundState.received
    process(inbound, _release_by=actor)
    if inbound.state is InboundState.processed and inbound.outcome != "released":
        inbound.outcome = "released"
    return inbound


def discard(inbound: InboundMessage, actor: User) -> InboundMessage:
    """Set a quarantined message aside for good (it is kept, never processed). The caller commits."""
    if inbound.state is not InboundState.quarantined:
        raise ReleaseRefused(
            f"Message #{inbound.id} is {inbound.state.value}; only quarantined messages are discarded."
        )
    inbound.state = InboundState.discarded
    inbound.outcome = "discarded"
    inbound.handled_by_id = actor.id
    inbound.processed_at = utcnow()
    db.session.flush()
    return inbound


def full_text(inbound: InboundMessage) -> str:
    """The whole decoded text (quoted history and signature included; HTML turned into text, never HTML)."""
    try:
        parsed = parse.parse(inbound.raw or b"")
    except parse.ParseError:
        return content.decode_bytes(inbound.raw or b"", None)
    text, _ = content.body_text(parsed.message)
    return text
