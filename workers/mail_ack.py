"""The acknowledgement of a ticket filed by email (outbox kind ``mail.acknowledge``, payload {inbound_id,
ticket_id}): one automatic reply, marked ``Auto-Submitted: auto-replied`` so well-behaved responders stay quiet,
threaded under the customer's mail and carrying their signed reply token (Message-ID and body marker) so their
answer lands on the ticket. At most ``MAIL_AUTO_REPLY_CAP`` acknowledgements go to one address per
``MAIL_AUTO_REPLY_WINDOW_HOURS`` (counted in ``AutoReplyLog``): a backstop against responders that ignore headers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app, render_template, url_for
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AutoReplyLog, InboundMessage, Ticket, User, utcnow
from portal.services.mail import tokens
from portal.services.mail.outgoing import record_sent
from portal.services.mail.parse import normalize_message_id
from workers import senders
from workers.registry import handler

KIND = "mail.acknowledge"


def _capped(address: str) -> bool:
    config = current_app.config
    since = utcnow() - timedelta(hours=int(config.get("MAIL_AUTO_REPLY_WINDOW_HOURS", 24)))
    sent = db.session.scalar(
        select(func.count(AutoReplyLog.id)).where(
            func.lower(AutoReplyLog.address) == address.lower(), AutoReplyLog.sent_at >= since
        )
    )
    return (sent or 0) >= int(config.get("MAIL_AUTO_REPLY_CAP", 3))


def _portal_url(ticket: Ticket, user: User) -> str | None:
    if not user.is_active or user.email_verified_at is None:
        return None  # a mail-made account has no password yet: a link would only lead to a sign-in page
    with current_app.test_request_context(base_url=current_app.config["PORTAL_URL"]):
        return url_for("customer.ticket", reference=ticket.reference, _external=True)


@handler(KIND)
def acknowledge(payload: dict[str, Any], message_id: int) -> None:
    inbound = db.session.get(InboundMessage, int(payload["inbound_id"]))
    ticket = db.session.get(Ticket, int(payload["ticket_id"]))
    if inbound is None or ticket is None or inbound.sender_id is None:
        return
    user = db.session.get(User, inbound.sender_id)
    if user is None or not user.is_active_account:
        return
    if db.session.scalar(select(AutoReplyLog.id).where(AutoReplyLog.inbound_id == inbound.id)) is not None:
        return  # acknowledged already (a retried job)
    if _capped(user.email):
        current_app.logger.warning("acknowledgement to %s skipped: MAIL_AUTO_REPLY_CAP reached", user.email)
        return
    token = tokens.reply_token(ticket.id, user.id)
    mid = tokens.message_id(token, f"ack-{message_id}", senders.mail_domain())
    theirs = normalize_message_id(inbound.message_id)
    references = [f"<{theirs}>"] if theirs else []
    subject = f"[{ticket.reference}] Received: {inbound.subject or ticket.subject}"
    context = {
        "user": user,
        "ticket": ticket,
        "ticket_url": _portal_url(ticket, user),
        "reply_marker": tokens.REPLY_MARKER,
        "ref_marker": tokens.marker(token),
    }

    def send(claim: senders.Claim) -> str:
        text = render_template("email/mail_ack.txt", **context)
        html = render_template("email/mail_ack.html", **context)
        message = senders.build_email(
            user.email,
            subject,
            text,
            html,
            message_id=claim.message_id or mid,
            thread_id=senders.ticket_thread_id(ticket.reference),
            in_reply_to=references[0] if references else None,
            references=references,
        )
        message.replace_header("Auto-Submitted", "auto-replied")  # RFC 3834: an automatic answer to a message
        return senders.send_email(message)

    record_sent(mid, ticket.id, user.id)
    if senders.deliver(message_id, "email", user.email, send, message_id=mid):
        db.session.add(AutoReplyLog(address=user.email.lower(), inbound_id=inbound.id, sent_at=utcnow()))
        db.session.flush()
