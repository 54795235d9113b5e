"""Outgoing ticket mail: what every notification about a ticket carries so that a reply by email finds its way
back, who besides the requester receives a public reply, and the one-click unsubscribe links.

A ticket notification to someone with an account carries their signed reply token (``tokens``) in its Message-ID
and as a hidden marker in the body, so their reply becomes their reply (or, for staff, their staff reply) on the
ticket. It points (In-Reply-To / References) at the ticket's thread root and at the latest mail we received on the
ticket, so the customer's mail client shows it under their own message. Each Message-ID sent is recorded as a
``TicketMailId`` (direction out) in its own short transaction before the send, so a reply that quotes only our
References still threads, even when the token was stripped. Notifications a user can turn off carry
``List-Unsubscribe`` (an https one-click link, RFC 8058, and a mailto) whose signed token turns exactly that
preference off.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any
from urllib.parse import quote

from flask import current_app, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import Ticket, TicketEvent, User, utcnow
from portal.models.mail import InboundMessage, InboundState, MailDirection, TicketMailId, TicketParticipant
from portal.models.notifications import PREFERENCE_FIELDS
from portal.services import attachments, notifications
from portal.services.access import can_read_ticket
from portal.services.errors import ValidationFailed
from portal.services.mail import tokens
from portal.services.mail.parse import normalize_message_id

# The preference that turns each notification kind off; kinds not listed (critical alerts) are not optional and
# carry no List-Unsubscribe.
PREFERENCE_OF_KIND: dict[str, str] = {
    "notify.ticket_reply": "email_ticket_updates",
    "notify.ticket_status": "email_ticket_updates",
    "notify.csat_survey": "email_ticket_updates",
    "notify.assignment": "email_assignments",
    "notify.sla_at_risk": "email_sla_alerts",
    "notify.sla_breach": "email_sla_alerts",
    "notify.sla_manager_alert": "email_sla_alerts",
    "notify.escalation": "email_escalations",
    "notify.handover_summary": "email_handover",
}
PREFERENCE_LABELS = dict(PREFERENCE_FIELDS)
_UNSUBSCRIBE_SALT = "mail-unsubscribe"


@dataclass(frozen=True)
class Recipient:
    """Someone mailed who has no account: a participant copied on a ticket (they get no token; their reply threads
    by References and is recognised as a participant's)."""

    email: str
    name: str = ""
    id: None = None
    is_staff: bool = False
    timezone: str = "UTC"


@dataclass
class TicketMail:
    """The headers and body markers of one notification about a ticket to one recipient."""

    message_id: str
    thread_root: str
    in_reply_to: str
    references: list[str]
    reply_to: str
    token: str | None = None
    unsubscribe_url: str | None = None
    list_unsubscribe: str | None = None
    context: dict[str, Any] = field(default_factory=dict)  # what the email templates show (markers, links)

    def build_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``workers.senders.build_email``."""
        return {
            "thread_id": self.thread_root,
            "in_reply_to": self.in_reply_to,
            "references": self.references,
            "reply_to": self.reply_to,
            "list_unsubscribe": self.list_unsubscribe,
        }


def support_address() -> str:
    """The address replies go to: ``SUPPORT_ADDRESS``, or the one in ``MAIL_FROM``."""
    config = current_app.config
    return parseaddr(config.get("SUPPORT_ADDRESS") or "")[1] or parseaddr(config["MAIL_FROM"])[1]


def recipient_digest(address: str) -> str:
    return hashlib.sha1(address.lower().encode()).hexdigest()[:10]


def latest_inbound_message_id(ticket_id: int) -> str | None:
    """The Message-ID (with <>) of the newest mail we threaded to the ticket, if any."""
    value = db.session.scalar(
        select(InboundMessage.message_id)
        .where(
            InboundMessage.ticket_id == ticket_id,
            InboundMessage.state == InboundState.processed,
            InboundMessage.message_id != "",
        )
        .order_by(InboundMessage.id.desc())
        .limit(1)
    )
    if not value:
        value = db.session.scalar(
            select(TicketMailId.message_id)
            .where(TicketMailId.ticket_id == ticket_id, TicketMailId.direction == MailDirection.inbound)
            .order_by(TicketMailId.id.desc())
            .limit(1)
        )
    ident = normalize_message_id(value or "")
    return f"<{ident}>" if ident else None


def ticket_mail(
    ticket: Ticket,
    recipient: User | Recipient,
    *,
    kind: str,
    outbox_id: int,
    domain: str,
    thread_root: str,
) -> TicketMail:
    """Everything a notification of ``kind`` (outbox row ``outbox_id``) about ``ticket`` carries for ``recipient``.
    Deterministic: a retried send of the same row to the same person gets the same Message-ID."""
    digest = recipient_digest(recipient.email)
    unique = f"{kind}.{outbox_id}.{digest}"
    token = tokens.reply_token(ticket.id, recipient.id) if recipient.id is not None else None
    if token is not None:
        message_id = tokens.message_id(token, unique=unique, domain=domain)
    else:
        message_id = f"<{kind.replace('.', '-')}.{outbox_id}.{digest}@{domain}>"
    latest = latest_inbound_message_id(ticket.id)
    references = [latest] if latest and latest != thread_root else []
    mail = TicketMail(
        message_id=message_id,
        thread_root=thread_root,
        in_reply_to=latest or thread_root,
        references=references,
        reply_to=support_address(),
        token=token,
    )
    preference = PREFERENCE_OF_KIND.get(kind)
    if preference and isinstance(recipient, User):
        mail.unsubscribe_url = unsubscribe_url(recipient, preference)
        mailto = (
            f"mailto:{support_address()}?subject={quote('unsubscribe ' + unsubscribe_token(recipient, preference))}"
        )
        mail.list_unsubscribe = f"<{mail.unsubscribe_url}>, <{mailto}>"
    mail.context = {
        "reply_marker": tokens.REPLY_MARKER,
        "ref_marker": tokens.marker(token) if token else "",
        "unsubscribe_url": mail.unsubscribe_url,
        "unsubscribe_label": PREFERENCE_LABELS.get(preference or "", ""),
    }
    return mail


def may_open(recipient: User | Recipient, ticket: Ticket) -> bool:
    """Whether the notification may link to the ticket's page (a participant from elsewhere gets no dead link)."""
    return isinstance(recipient, User) and can_read_ticket(recipient, ticket)


def record_sent(message_id: str, ticket_id: int, user_id: int | None, event_id: int | None = None) -> None:
    """Remember that ``message_id`` was sent about the ticket (to ``user_id``). Own transaction, committed before the
    send; a second call (a retried send) finds the unique row and changes nothing."""
    ident = normalize_message_id(message_id)
    if not ident:
        return
    try:
        with db.engine.begin() as conn:
            exists = conn.scalar(select(TicketMailId.id).where(TicketMailId.message_id == ident))
            if exists is None:
                conn.execute(
                    insert(TicketMailId).values(
                        message_id=ident,
                        ticket_id=ticket_id,
                        event_id=event_id,
                        user_id=user_id,
                        direction=MailDirection.outbound,
                        created_at=utcnow(),
                    )
                )
    except IntegrityError:
        pass  # recorded meanwhile by a concurrent run of the same send


# --------------------------------------------------------------------------- who receives a public reply


def participant_recipients(ticket: Ticket, exclude: Iterable[str]) -> list[User | Recipient]:
    """The ticket's participants, once each, without the addresses in ``exclude`` (the author, the requester):
    their account when they have one, else a ``Recipient`` for the bare address."""
    skip = {address.lower() for address in exclude if address}
    rows = list(
        db.session.scalars(
            select(TicketParticipant).where(TicketParticipant.ticket_id == ticket.id).order_by(TicketParticipant.id)
        )
    )
    wanted = [p for p in rows if p.email.lower() not in skip]
    unlinked = {p.email.lower() for p in wanted if p.user_id is None}
    accounts = {}
    if unlinked:
        accounts = {
            u.email.lower(): u for u in db.session.scalars(select(User).where(func.lower(User.email).in_(unlinked)))
        }
    out: list[User | Recipient] = []
    seen: set[str] = set()
    for participant in wanted:
        address = participant.email.lower()
        if address in seen:
            continue
        seen.add(address)
        user = participant.user or accounts.get(address)
        if user is not None:
            if user.is_active and user.email.lower() not in skip:
                out.append(user)
        else:
            out.append(Recipient(email=participant.email, name=participant.email))
    return out


def wants_ticket_mail(recipient: User | Recipient, preference: str) -> bool:
    if isinstance(recipient, Recipient):
        return bool(recipient.email)
    return notifications.wants_email(recipient, preference)


def attachment_links(event: TicketEvent) -> list[tuple[str, str]]:
    """(file name, download link) of the files of ``event``: emails link to them, never attach them."""
    files = attachments.for_events([event.id]).get(event.id, [])
    if not files:
        return []
    with current_app.test_request_context(base_url=current_app.config["PORTAL_URL"]):
        return [(a.filename, attachments.download_url(a, external=True)) for a in files]


# --------------------------------------------------------------------------- one-click unsubscribe


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_UNSUBSCRIBE_SALT)


def unsubscribe_token(user: User, preference: str) -> str:
    """A signed, non-expiring token that turns ``preference`` off for ``user`` (a link in an old mail keeps
    working; all it can do is stop one kind of email)."""
    return _serializer().dumps([user.id, preference])


def unsubscribe_url(user: User, preference: str) -> str:
    with current_app.test_request_context(base_url=current_app.config["PORTAL_URL"]):
        return url_for("email.unsubscribe", token=unsubscribe_token(user, preference), _external=True)


@dataclass(frozen=True)
class Unsubscribe:
    user: User
    preference: str
    label: str


def read_unsubscribe(token: str) -> Unsubscribe:
    """The user and preference a token names; ``ValidationFailed`` when it is not one of ours."""
    try:
        user_id, preference = _serializer().loads(token or "")
    except (BadSignature, ValueError, TypeError):
        raise ValidationFailed("This unsubscribe link is not valid.") from None
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or preference not in PREFERENCE_LABELS:
        raise ValidationFailed("This unsubscribe link is not valid.")
    return Unsubscribe(user, preference, PREFERENCE_LABELS[preference])


def unsubscribe(token: str) -> Unsubscribe:
    """Turn the token's preference off (flushes). Doing it twice changes nothing."""
    found = read_unsubscribe(token)
    notifications.save_preferences(found.user, {found.preference: False})
    return found


def unsubscribe_by_mail(subject: str) -> Unsubscribe | None:
    """The mailto variant of List-Unsubscribe: a mail whose subject is ``unsubscribe <token>`` (for the inbound
    pipeline to call before treating a mail as a ticket). None when the subject is not such a request."""
    words = (subject or "").strip().split()
    if len(words) != 2 or words[0].lower() != "unsubscribe":
        return None
    try:
        return unsubscribe(words[1])
    except ValidationFailed:
        return None
