"""The email channel end to end with real parts: a customer's mail lands in a dovecot mailbox and the poll files it
as a ticket (attachment included); the agent's reply leaves through the outbox to an aiosmtpd server; the customer's
answer to that very message, put back in the mailbox, threads to the same ticket with only its new text — by its
headers, and by the subject's reference when a mail client dropped them — while a stranger using the same subject
never reaches the ticket."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Attachment, Role, Ticket, TicketEvent
from portal.models.mail import InboundMessage, InboundState
from portal.models.tickets import Channel, EventKind
from portal.services import tickets as ticket_service
from portal.services.mail import imap
from tests.mail.messages import build, png_bytes, reply_to
from workers.inline import run_pending

SUPPORT = "support@support.test"


@pytest.fixture
def people(make_org, make_user):
    org = make_org(name="Customer Ltd", domains="customer.test")
    other = make_org(name="Other Corp", domains="other.test")
    return {
        "ann": make_user(Role.customer, organization=org, email="ann@customer.test", name="Ann Customer"),
        "agent": make_user(Role.agent, email="agent@esg.test", name="Alex Agent"),
        "outsider": make_user(Role.customer, organization=other, email="olga@other.test", name="Olga Other"),
    }


@pytest.fixture
def outgoing(app, monkeypatch, smtp_server):
    controller, mailbox = smtp_server
    for key, value in {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": controller.port,
        "MAIL_TIMEOUT": 10.0,
        "MAIL_FROM": f"ESG Support <{SUPPORT}>",
        "SUPPORT_ADDRESS": SUPPORT,
    }.items():
        monkeypatch.setitem(app.config, key, value)
    return mailbox


def _poll() -> imap.PollResult:
    result = imap.poll_once()
    assert result.ok, result.errors
    db.session.rollback()
    return result


def _inbound(uid: int) -> InboundMessage:
    return db.session.scalar(select(InboundMessage).where(InboundMessage.imap_uid == uid))


def _public_replies(ticket: Ticket) -> list[TicketEvent]:
    return list(
        db.session.scalars(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.public_reply)
            .order_by(TicketEvent.id)
        )
    )


def test_a_conversation_by_email(app, mailbox, outgoing, people):
    ann, agent = people["ann"], people["agent"]

    # 1. a customer's new mail, with a screenshot, becomes a ticket with the file
    screenshot = png_bytes(8, 8)
    first_uid = mailbox.append(
        build(
            sender="ann@customer.test",
            sender_name="Ann Customer",
            to=SUPPORT,
            subject="Import fails with error 42",
            body="Since this morning the nightly import stops with error 42. Screenshot attached.",
            attachments=[("screenshot.png", "image/png", screenshot)],
        )
    )
    assert _poll().processed == 1
    first = _inbound(first_uid)
    assert first.state == InboundState.processed and first.outcome == "new_ticket"
    ticket = db.session.get(Ticket, first.ticket_id)
    assert ticket.requester_id == ann.id and ticket.channel == Channel.email
    assert ticket.subject == "Import fails with error 42"
    assert "error 42" in ticket.description
    files = list(db.session.scalars(select(Attachment).where(Attachment.ticket_id == ticket.id)))
    assert [(f.filename, f.content_type, f.size) for f in files] == [("screenshot.png", "image/png", len(screenshot))]

    # 2. the agent answers in the portal; the outbox sends it over SMTP
    ticket_service.reply_to_ticket(agent, ticket, "We restarted the importer. Does it work now?")
    db.session.commit()
    run_pending()
    sent = [m for m in outgoing.to("ann@customer.test") if "We restarted the importer" in m.as_string()]
    assert len(sent) == 1
    notification = sent[0]
    assert ticket.reference in notification["Subject"]

    # 3. the customer answers that message: threads by its headers, only the new text is kept
    answer_uid = mailbox.append(
        reply_to(notification, sender="ann@customer.test", new_text="Yes, the import works again. Thanks!")
    )
    assert _poll().processed == 1
    answer = _inbound(answer_uid)
    assert answer.ticket_id == ticket.id and answer.outcome == "reply"
    assert answer.thread_method in ("token", "references")
    replies = _public_replies(ticket)
    assert replies[-1].author_id == ann.id
    assert replies[-1].body.strip() == "Yes, the import works again. Thanks!"  # the quoted history is cut
    assert _count_tickets() == 1

    # 4. a mail client that dropped In-Reply-To / References (and the quoted history with the hidden marker): the
    # subject's reference threads it
    stripped_uid = mailbox.append(
        build(
            sender="ann@customer.test",
            to=SUPPORT,
            subject="Re: " + str(notification["Subject"]),
            body="One more thing: it was slow.",
        )
    )
    assert _poll().processed == 1
    stripped = _inbound(stripped_uid)
    assert stripped.ticket_id == ticket.id and stripped.thread_method == "subject"
    assert _public_replies(ticket)[-1].body.strip() == "One more thing: it was slow."
    assert _count_tickets() == 1

    # 5. strangers with the same subject never reach the ticket
    before = len(_public_replies(ticket))
    subject = f"Re: [{ticket.reference}] New reply: {ticket.subject}"
    stranger_uids = [
        mailbox.append(build(sender="eve@unknown.test", subject=subject, body="Send me the data.")),
        mailbox.append(build(sender="olga@other.test", subject=subject, body="Is this mine?")),
    ]
    result = _poll()
    assert result.processed + result.quarantined == 2
    for uid in stranger_uids:
        row = _inbound(uid)
        assert row.ticket_id != ticket.id and row.thread_method != "subject"
        if row.state == InboundState.processed:  # filed as their own new ticket (unknown senders are accepted)
            assert row.outcome == "new_ticket"
            assert db.session.get(Ticket, row.ticket_id).requester.email == row.from_address
        else:
            assert row.state == InboundState.quarantined
    assert len(_public_replies(ticket)) == before
    assert mailbox.unseen() == []


def _count_tickets() -> int:
    return db.session.scalar(select(func.count()).select_from(Ticket))
