"""Outgoing ticket mail, sent to a real SMTP server (aiosmtpd): the signed Message-ID, threading headers, Reply-To,
Auto-Submitted, the reply markers, List-Unsubscribe and its one-click POST, participants, the recorded Message-IDs,
and a retried send that keeps its Message-ID."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import NotificationDelivery, OutboxMessage, OutboxStatus, Role, utcnow
from portal.models.mail import MailDirection, TicketMailId, TicketParticipant
from portal.services import attachments, notifications
from portal.services import tickets as ticket_service
from portal.services.mail import outgoing, tokens
from portal.services.mail.parse import normalize_message_id
from portal.services.outbox import emit
from workers import senders
from workers.inline import run_pending

URL_RE = re.compile(r"<(https://[^>]+)>")


@pytest.fixture
def setting(make_org, make_user, make_ticket, make_inbound):
    org = make_org()
    customer = make_user(Role.customer, organization=org, email="cora@org.test", name="Cora Customer")
    agent = make_user(Role.agent, email="ann@support.test", name="Ann Agent")
    colleague = make_user(Role.customer, organization=org, email="colin@org.test", name="Colin Colleague")
    ticket = make_ticket(customer, subject="Import fails")
    inbound = make_inbound(ticket=ticket, sender=customer, message_id="<CAF-first@Mail.Example>")
    for address, user in (
        ("outsider@elsewhere.test", None),
        ("colin@org.test", colleague),
        ("ann@support.test", agent),
    ):
        db.session.add(TicketParticipant(ticket_id=ticket.id, email=address, user_id=user.id if user else None))
    db.session.commit()
    return dict(org=org, customer=customer, agent=agent, colleague=colleague, ticket=ticket, inbound=inbound)


def _staff_reply(agent, ticket, body="We fixed the parser; please try again."):
    ticket = db.session.get(type(ticket), ticket.id)
    event = ticket_service.reply_to_ticket(agent, ticket, body)
    db.session.commit()
    return event


def _token_of(message) -> tokens.ReplyToken:
    found = tokens.tokens_in_message_ids([message["Message-ID"]])
    assert len(found) == 1, message["Message-ID"]
    return found[0]


def test_a_staff_reply_carries_the_signed_token_threading_markers_and_unsubscribe(client, mailbox, setting):
    ticket, customer = setting["ticket"], setting["customer"]
    event = _staff_reply(setting["agent"], ticket)
    assert run_pending() >= 1

    [mail] = mailbox.to("cora@org.test")
    token = _token_of(mail)
    assert token == tokens.ReplyToken(ticket.id, customer.id)
    raw_token = re.search(r"(r-\d+-\d+-[a-z2-7]{20})", mail["Message-ID"]).group(1)
    assert tokens.verify(raw_token) == token
    assert mail["From"] == "ESG Support <support@support.test>"
    assert mail["Reply-To"] == "support@support.test"
    assert mail["Auto-Submitted"] == "auto-generated"
    root = f"<ticket-{ticket.reference}@support.test>"
    assert mail["In-Reply-To"] == "<CAF-first@mail.example>"  # under the customer's own mail
    assert mail["References"].split() == [root, "<CAF-first@mail.example>"]

    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert text.splitlines()[0] == tokens.REPLY_MARKER
    assert text.rstrip().splitlines()[-1] == tokens.marker(raw_token)
    assert tokens.token_in_body(text) == token
    assert tokens.REPLY_MARKER in html.split("Hello")[0]
    assert f'<span style="display:none">{tokens.marker(raw_token)}</span>' in html
    assert "We fixed the parser" in text

    unsubscribe = mail["List-Unsubscribe"]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = URL_RE.search(unsubscribe).group(1)
    assert url.startswith("https://portal.example.test/mail/unsubscribe/")
    assert "<mailto:support@support.test?subject=unsubscribe%20" in unsubscribe

    # every Message-ID sent is known to the ticket (direction out, recipient), so a reply threads without a token
    rows = {r.user_id: r for r in db.session.scalars(select(TicketMailId).where(TicketMailId.ticket_id == ticket.id))}
    assert rows[customer.id].message_id == normalize_message_id(mail["Message-ID"])
    assert rows[customer.id].direction is MailDirection.outbound and rows[customer.id].event_id == event.id

    # the one-click POST (no session, no CSRF token) turns exactly that preference off
    path = urlsplit(url).path
    page = client.get(path)
    assert page.status_code == 200 and "Unsubscribe" in page.text
    assert notifications.preferences_for(customer).email_ticket_updates is True  # a GET changes nothing
    done = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "no longer receive" in done.text
    db.session.expire_all()
    prefs = notifications.preferences_for(customer)
    assert prefs.email_ticket_updates is False and prefs.email_assignments is True
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # twice: still fine
    assert client.get("/mail/unsubscribe/not-a-token").status_code == 400
    assert client.post(path[:-3] + "xyz").status_code == 400  # a tampered signature


def test_participants_receive_public_replies_once_each_and_the_author_none(mailbox, setting):
    _staff_reply(setting["agent"], setting["ticket"])
    run_pending()
    recipients = sorted(m["To"] for m in mailbox.messages)
    assert recipients == ["colin@org.test", "cora@org.test", "outsider@elsewhere.test"]  # not the author

    [colin] = mailbox.to("colin@org.test")
    assert _token_of(colin) == tokens.ReplyToken(setting["ticket"].id, setting["colleague"].id)
    assert "copied on the ticket" in colin.get_body(("plain",)).get_content()

    [outsider] = mailbox.to("outsider@elsewhere.test")
    assert tokens.tokens_in_message_ids([outsider["Message-ID"]]) == []  # no account: no token ...
    assert outsider["List-Unsubscribe"] is None
    body = outsider.get_body(("plain",)).get_content()
    assert "[ref:" not in body and "/portal/tickets/" not in body  # ... and no link to a page they cannot open
    known = {r.message_id for r in db.session.scalars(select(TicketMailId))}
    assert normalize_message_id(outsider["Message-ID"]) in known  # ... but their reply threads by References
    assert len(known) == 3


def test_a_customers_reply_reaches_the_people_copied_but_not_its_author(mailbox, setting):
    ticket = db.session.get(type(setting["ticket"]), setting["ticket"].id)
    ticket_service.reply_to_ticket(setting["customer"], ticket, "Still failing on row 3, see attached log.")
    db.session.commit()
    run_pending()
    recipients = sorted(m["To"] for m in mailbox.messages if m["Subject"].startswith(f"[{ticket.reference}] New reply"))
    # the colleague, the outsider and the agent copied on it; the requester wrote it
    assert recipients == ["ann@support.test", "colin@org.test", "outsider@elsewhere.test"]


def test_a_customers_reply_on_a_ticket_nobody_is_copied_on_sends_nothing(mailbox, make_org, make_user, make_ticket):
    customer = make_user(Role.customer, organization=make_org())
    ticket = make_ticket(customer, subject="Alone")
    ticket_service.reply_to_ticket(customer, ticket, "Any news?")
    db.session.commit()
    assert not db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "notify.ticket_reply")).all()


def test_a_retried_send_keeps_its_message_id(app, mailbox, setting, monkeypatch):
    real_send = senders.send_email
    calls = []

    def flaky(message):
        calls.append(message["Message-ID"])
        if len(calls) == 1:
            raise ConnectionRefusedError("SMTP server down")
        return real_send(message)

    monkeypatch.setattr(senders, "send_email", flaky)
    monkeypatch.setitem(app.config, "JOBS_MAX_ATTEMPTS", 5)
    _staff_reply(setting["agent"], setting["ticket"])
    run_pending(kinds=["notify.ticket_reply"])
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "notify.ticket_reply"))
    assert row.status is OutboxStatus.pending and row.attempts == 1
    first_id = calls[0]
    row.available_at = utcnow()
    db.session.commit()
    run_pending(kinds=["notify.ticket_reply"])

    [mail] = mailbox.to("cora@org.test")
    assert mail["Message-ID"] == first_id  # the same Message-ID on the retry
    delivery = db.session.scalar(select(NotificationDelivery).where(NotificationDelivery.recipient == "cora@org.test"))
    assert delivery.message_id == first_id and delivery.state == "sent"
    ids = list(
        db.session.scalars(select(TicketMailId.message_id).where(TicketMailId.user_id == setting["customer"].id))
    )
    assert ids == [normalize_message_id(first_id)]  # recorded once
    again = outgoing.ticket_mail(
        setting["ticket"],
        setting["customer"],
        kind="notify.ticket_reply",
        outbox_id=row.id,
        domain="support.test",
        thread_root=f"<ticket-{setting['ticket'].reference}@support.test>",
    )
    assert again.message_id == first_id  # deterministic


def test_staff_notifications_carry_their_own_token_and_marker(mailbox, make_user, make_ticket):
    customer = make_user(Role.customer)
    agent = make_user(Role.agent, email="andy@support.test")
    ticket = make_ticket(customer)
    changes = ticket_service.assign_ticket(make_user(Role.manager), ticket, agent.id, expected_version=ticket.version)
    assert changes
    db.session.commit()
    run_pending()
    [mail] = mailbox.to("andy@support.test")
    assert _token_of(mail) == tokens.ReplyToken(ticket.id, agent.id)
    assert tokens.token_in_body(mail.get_body(("plain",)).get_content()) == tokens.ReplyToken(ticket.id, agent.id)
    assert mail["Reply-To"] == "support@support.test"
    assert "/mail/unsubscribe/" in mail["List-Unsubscribe"]  # assignments can be turned off


def test_reply_files_are_linked_never_attached(mailbox, setting):
    ticket = db.session.get(type(setting["ticket"]), setting["ticket"].id)
    event = ticket_service.reply_to_ticket(setting["agent"], ticket, "The corrected file is attached.")
    attachments.store(b"col1,col2\n1,2\n", "fixed.csv", uploader=setting["agent"], ticket=ticket, event=event)
    db.session.commit()
    run_pending()
    [mail] = mailbox.to("cora@org.test")
    assert list(mail.iter_attachments()) == []
    text = mail.get_body(("plain",)).get_content()
    assert re.search(r"- fixed\.csv: https://portal\.example\.test/attachments/[^/\s]+/fixed\.csv", text)
    assert "fixed.csv</a>" in mail.get_body(("html",)).get_content()


def test_critical_alerts_have_no_unsubscribe_but_a_token(mailbox, make_user, make_ticket):
    customer = make_user(Role.customer)
    senior = make_user(Role.senior_agent, email="sam@support.test")
    ticket = make_ticket(customer)
    emit("notify.critical_alert", {"ticket_id": ticket.id, "user_ids": [senior.id]})
    db.session.commit()
    run_pending(kinds=["notify.critical_alert"])
    [mail] = mailbox.to("sam@support.test")
    assert mail["List-Unsubscribe"] is None  # a critical alert cannot be turned off
    assert _token_of(mail) == tokens.ReplyToken(ticket.id, senior.id)


def test_the_mailto_unsubscribe_turns_the_preference_off(app, make_user):
    user = make_user(Role.agent)
    token = outgoing.unsubscribe_token(user, "email_sla_alerts")
    assert outgoing.unsubscribe_by_mail("Re: hello") is None
    assert outgoing.unsubscribe_by_mail("unsubscribe not-a-token") is None
    done = outgoing.unsubscribe_by_mail(f"unsubscribe {token}")
    assert done is not None and done.user.id == user.id and done.preference == "email_sla_alerts"
    db.session.commit()
    db.session.expire_all()
    prefs = notifications.preferences_for(user)
    assert prefs.email_sla_alerts is False and prefs.email_escalations is True
