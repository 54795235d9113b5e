"""The acknowledgement of a ticket filed by email, sent through the outbox to a real SMTP server (aiosmtpd): its
headers (auto-replied, threaded under the customer's mail, the signed reply token), once per message, and the
per-sender cap that stops loops with responders ignoring the headers."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AutoReplyLog, MailDirection, TicketMailId, utcnow
from portal.services.mail import tokens
from portal.services.mail.parse import normalize_message_id
from tests.mail._corpus_helpers import ingest, new_id, outbox_rows, raw_mail
from workers import runner


@pytest.fixture
def smtp(app, monkeypatch, smtp_server):
    controller, mailbox = smtp_server
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", controller.port)
    return mailbox


@pytest.fixture
def ann(make_org, make_user):
    return make_user(email="ann@client.test", name="Ann Client", organization=make_org(domains="client.test"))


def _run_acks() -> list[str]:
    return [runner.process(row.id) for row in outbox_rows("mail.acknowledge")]


def _logged() -> int:
    return db.session.scalar(select(func.count()).select_from(AutoReplyLog))


def test_a_new_ticket_by_email_is_acknowledged_once(smtp, ann):
    theirs = new_id()
    inbound = ingest(raw_mail(sender=ann.email, subject="Export stops", message_id=theirs))
    assert _run_acks() == ["done"]
    [mail] = smtp.messages
    ticket_ref = f"ESG-{inbound.ticket_id:06d}"
    assert mail["To"] == ann.email and mail["Subject"] == f"[{ticket_ref}] Received: Export stops"
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["In-Reply-To"] == theirs and theirs in mail["References"]
    token = tokens.reply_token(inbound.ticket_id, ann.id)
    assert mail["Message-ID"].startswith(f"<{token}.")
    text = mail.get_body(("plain",)).get_content()
    assert text.startswith(tokens.REPLY_MARKER) and tokens.marker(token) in text
    assert tokens.marker(token) in mail.get_body(("html",)).get_content()
    assert _logged() == 1
    # the Message-ID we sent is known, so even a reply without the token threads by References
    sent = db.session.scalar(select(TicketMailId).where(TicketMailId.direction == MailDirection.outbound))
    assert sent.message_id == normalize_message_id(mail["Message-ID"]) and sent.ticket_id == inbound.ticket_id
    # retried job: nothing more is sent
    row = outbox_rows("mail.acknowledge")[0]
    from workers.mail_ack import acknowledge

    acknowledge(row.payload, row.id)
    assert len(smtp.messages) == 1 and _logged() == 1


def test_the_customer_answering_the_acknowledgement_threads_by_token(smtp, ann):
    inbound = ingest(raw_mail(sender=ann.email, subject="Export stops"))
    _run_acks()
    [mail] = smtp.messages
    reply = ingest(raw_mail(sender=ann.email, subject=f"Re: {mail['Subject']}", in_reply_to=mail["Message-ID"]))
    assert (reply.outcome, reply.thread_method, reply.ticket_id) == ("reply", "token", inbound.ticket_id)
    assert len(outbox_rows("mail.acknowledge")) == 1  # replies are not acknowledged


def test_ignored_and_quarantined_mail_is_never_acknowledged(smtp, ann, make_user):
    ingest(raw_mail(sender=ann.email, headers={"Auto-Submitted": "auto-replied"}))
    ingest(raw_mail(sender=ann.email, headers={"Precedence": "bulk"}))
    agent = make_user("agent", email="agent@support.esg.test")
    ingest(raw_mail(sender=agent.email))
    assert outbox_rows("mail.acknowledge") == [] and smtp.messages == []


def test_acknowledgements_per_address_are_capped(app, monkeypatch, smtp, ann):
    monkeypatch.setitem(app.config, "MAIL_AUTO_REPLY_CAP", 2)
    monkeypatch.setitem(app.config, "MAIL_AUTO_REPLY_WINDOW_HOURS", 24)
    start = utcnow()
    with time_machine.travel(start, tick=False):
        for n in range(3):
            ingest(raw_mail(sender=ann.email, subject=f"Problem {n}"))
        assert _run_acks() == ["done", "done", "done"]
    assert len(smtp.messages) == 2 and _logged() == 2  # the third ticket exists, its acknowledgement was held back
    with time_machine.travel(start + timedelta(hours=25), tick=False):
        ingest(raw_mail(sender=ann.email, subject="Problem 4"))
        assert _run_acks()[-1] == "done"
    assert len(smtp.messages) == 3 and _logged() == 3
