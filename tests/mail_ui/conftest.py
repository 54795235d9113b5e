"""Fixtures of the mail UI tests: a real SMTP server (aiosmtpd) the app sends to, and stored inbound messages."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from portal.extensions import db
from portal.models import InboundMessage, InboundSource, InboundState, utcnow
from tests.ops.conftest import _Mailbox, free_port


@pytest.fixture
def mailbox(app, monkeypatch):
    """The app sends to a local aiosmtpd server; the messages it received."""
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    for key, value in {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": controller.port,
        "MAIL_TIMEOUT": 10.0,
        "MAIL_FROM": "ESG Support <support@support.test>",
        "PORTAL_URL": "https://portal.example.test",
    }.items():
        monkeypatch.setitem(app.config, key, value)
    yield box
    controller.stop()


def raw_mail(sender: str, subject: str, body: str, *, message_id: str = "<m1@mail.example>", to: str = "") -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to or "support@support.test"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message["Date"] = "Wed, 02 Dec 2026 10:00:00 +0000"
    message.set_content(body)
    return bytes(message)


@pytest.fixture
def make_inbound():
    """Store an InboundMessage row as the pipeline leaves it (for the UI parts)."""

    def make(
        *,
        state: InboundState = InboundState.processed,
        ticket=None,
        event=None,
        sender=None,
        subject: str = "Import fails",
        body: str = "The CSV import stops at row 3.",
        message_id: str = "",
        **fields,
    ) -> InboundMessage:
        address = sender.email if sender is not None else fields.pop("from_address", "someone@elsewhere.test")
        message_id = message_id or f"<in-{utcnow().timestamp()}-{id(fields)}@mail.example>"
        inbound = InboundMessage(
            source=InboundSource.upload,
            state=state,
            message_id=message_id,
            from_address=address,
            subject=subject,
            raw=raw_mail(address, subject, body, message_id=message_id),
            size=len(body),
            ticket_id=ticket.id if ticket is not None else None,
            event_id=event.id if event is not None else None,
            sender_id=sender.id if sender is not None else None,
            received_at=utcnow(),
            **fields,
        )
        db.session.add(inbound)
        db.session.commit()
        return inbound

    return make
