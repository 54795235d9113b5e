"""Realistic message shapes (tests/mail/corpus/*.eml, as mail clients and mail systems send them) through the
whole pipeline, each with its asserted outcome: state, reason, the text kept, the files stored."""

from __future__ import annotations

import base64
import os

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    Attachment,
    EventKind,
    MailDirection,
    Status,
    Ticket,
    TicketEvent,
    TicketMailId,
    User,
)
from portal.services.mail import pipeline
from tests.mail._corpus_helpers import corpus, ingest, outbox_rows


@pytest.fixture
def ann(make_org, make_user):
    org = make_org("Client", domains="client.test")
    return make_user(email="ann.client@client.test", name="Ann Client", organization=org)


@pytest.fixture
def ticket(make_ticket, ann):
    """ESG-000001, to which our notifications <notify-ticket_reply.41…45.7f3a9c0d1e@support.esg.test> belong."""
    ticket = make_ticket(ann, subject="Export stops at row 3")
    assert ticket.reference == "ESG-000001"
    for n in range(41, 46):
        db.session.add(
            TicketMailId(
                message_id=f"notify-ticket_reply.{n}.7f3a9c0d1e@support.esg.test",
                ticket_id=ticket.id,
                user_id=ann.id,
                direction=MailDirection.outbound,
            )
        )
    db.session.commit()
    return ticket


def _body(inbound) -> str:
    return db.session.get(TicketEvent, inbound.event_id).body


def _files(inbound) -> list[tuple[str, str, bool, str]]:
    rows = db.session.scalars(select(Attachment).where(Attachment.inbound_id == inbound.id).order_by(Attachment.id))
    return [(a.filename, a.content_type, a.inline, a.content_id) for a in rows]


def _tickets() -> int:
    return db.session.scalar(select(func.count()).select_from(Ticket))


def test_gmail_reply_keeps_only_the_new_text(ticket):
    inbound = ingest(corpus("gmail_reply.eml"))
    assert (inbound.outcome, inbound.thread_method, inbound.ticket_id) == ("reply", "references", ticket.id)
    assert _body(inbound) == (
        "Thanks \u2014 I tried again with the smaller file and it still stops at row 3.\n"
        'The log says "unexpected delimiter".'
    )
    full = pipeline.full_text(inbound)
    assert "Sustainability Lead" in full and "could you try again" in full and "<div" not in full


def test_outlook_reply_in_windows_1252_drops_the_original_message_block(ticket):
    inbound = ingest(corpus("outlook_reply.eml"))
    assert (inbound.outcome, inbound.ticket_id) == ("reply", ticket.id)
    assert inbound.from_name == "J\u00fcrgen M\u00fcller" or "juergen" in inbound.from_address
    body = _body(inbound)
    assert body.startswith("Hi team,\n\nthe report finished overnight \u2013 thank you! One \u201clast\u201d question")
    assert "\u20ac" in body and body.endswith("J\u00fcrgen M\u00fcller") and "Sent:" not in body


def test_apple_mail_reply(ticket):
    inbound = ingest(corpus("apple_reply.eml"))
    assert (inbound.outcome, inbound.ticket_id) == ("reply", ticket.id)
    assert _body(inbound) == "Works now, you can close it.\n\nSent from my iPhone"


def test_forwarded_message_keeps_what_was_forwarded(ann):
    inbound = ingest(corpus("forwarded.eml"))
    assert inbound.outcome == "new_ticket"
    body = _body(inbound)
    assert body.startswith("Please see below") and "The invoice lists 12 seats, our contract has 10." in body
    assert db.session.get(Ticket, inbound.ticket_id).subject == "Fwd: Invoice 2026-118 does not match the contract"


def test_out_of_office_reply_is_ignored_and_does_not_reopen(ticket):
    ticket.status = Status.solved
    db.session.commit()
    inbound = ingest(corpus("out_of_office.eml"))
    assert (inbound.state.value, inbound.reason, inbound.ticket_id) == ("ignored", "auto_reply", None)
    db.session.refresh(ticket)
    assert ticket.status is Status.solved and _tickets() == 1 and not outbox_rows("mail.acknowledge")


def test_dsn_bounce_is_ignored_but_linked_to_the_ticket_of_our_mail(ticket):
    inbound = ingest(corpus("dsn_bounce.eml"))
    assert (inbound.state.value, inbound.reason, inbound.ticket_id) == ("ignored", "bounce", ticket.id)
    assert "ESG-000001" in inbound.detail and inbound.event_id is None
    assert db.session.scalar(select(func.count()).select_from(TicketEvent)) == 1  # only the creation
    assert db.session.scalar(select(User).where(User.email.like("%mailer-daemon%"))) is None


def test_calendar_invite_becomes_a_ticket_with_the_invite_once(ann):
    inbound = ingest(corpus("calendar_invite.eml"))
    assert inbound.outcome == "new_ticket"
    assert _body(inbound).startswith("You have been invited to the following event.")
    assert [f[0] for f in _files(inbound)] == ["invite.ics"]


def test_html_only_newsletter_with_list_id_is_ignored(ann):
    inbound = ingest(corpus("newsletter.eml"))
    assert (inbound.state.value, inbound.reason) == ("ignored", "bulk") and _tickets() == 0


def test_html_only_mail_is_sanitized_into_readable_text(ann):
    inbound = ingest(corpus("html_only.eml"))
    body = _body(inbound)
    assert "The dashboard shows wrong totals for Q3." in body and "* Scope 1: 120 t" in body
    assert "Please check." in body
    for bad in ("alert", "steal", "evil", "hunter2", "tracker", "color: red", "<", "javascript"):
        assert bad not in body
    assert "Please check." in pipeline.full_text(inbound) and "<p" not in pipeline.full_text(inbound)


def test_nested_related_with_inline_image_and_attachment(ann):
    inbound = ingest(corpus("related_inline.eml"))
    assert inbound.outcome == "new_ticket"
    assert _body(inbound).startswith("The error is in the screenshot below.")
    assert _files(inbound) == [
        ("error.png", "image/png", True, "ii_error01"),
        ("report.pdf", "application/pdf", False, ""),
    ]
    rows = db.session.scalars(select(Attachment).where(Attachment.inbound_id == inbound.id))
    assert {(a.ticket_id, a.event_id) for a in rows} == {(inbound.ticket_id, inbound.event_id)}


@pytest.mark.parametrize(
    ("name", "sender", "subject", "text"),
    [
        (
            "latin1.eml",
            "Fran\u00e7oise Dupr\u00e9",
            "Probl\u00e8me d'export : donn\u00e9es manquantes",
            "les donn\u00e9es de l'ann\u00e9e pr\u00e9c\u00e9dente sont manquantes. \u00c0 bient\u00f4t !",
        ),
        (
            "iso2022jp.eml",
            "\u5c71\u7530\u592a\u90ce",
            "\u30a8\u30af\u30b9\u30dd\u30fc\u30c8\u306e\u554f\u984c",
            "\u30a8\u30af\u30b9\u30dd\u30fc\u30c8\u304c3\u884c\u76ee\u3067\u6b62\u307e\u308a\u307e\u3059\u3002",
        ),
        (
            "koi8r.eml",
            "\u0418\u0432\u0430\u043d \u041f\u0435\u0442\u0440\u043e\u0432",
            "\u041e\u0448\u0438\u0431\u043a\u0430 \u044d\u043a\u0441\u043f\u043e\u0440\u0442\u0430",
            "Экспорт останавливается",
        ),
        ("unknown_charset.eml", "Ann Client", "Unknown charset label", "Caf\u00e9 na\u00efve \u2013 r\u00e9sum\u00e9"),
        ("mislabelled_ascii.eml", "Ann Client", "Mislabelled charset", "Price \u2013 10 \u20ac, caf\u00e9"),
    ],
)
def test_charsets_are_decoded(ann, name, sender, subject, text):
    inbound = ingest(corpus(name))
    ticket = db.session.get(Ticket, inbound.ticket_id)
    assert inbound.outcome == "new_ticket" and ticket.subject == subject
    assert db.session.get(User, inbound.sender_id).name == sender
    assert text in _body(inbound) and "\ufffd" not in _body(inbound)


@pytest.mark.parametrize(
    "name", ["malformed_from_two.eml", "malformed_from_nodomain.eml", "malformed_from_garbage.eml"]
)
def test_malformed_from_is_quarantined(name):
    inbound = ingest(corpus(name))
    assert (inbound.state.value, inbound.reason) == ("quarantined", "malformed_from")
    assert inbound.detail and _tickets() == 0
    with pytest.raises(pipeline.ReleaseRefused):
        pipeline.release_as_new_ticket(inbound, db.session.scalar(select(User).limit(1)) or User(id=0, name="x"))


def _with_attachment(filename: str, ctype: str, data: bytes) -> bytes:
    encoded = base64.encodebytes(data)
    head = (
        "From: Ann Client <ann.client@client.test>\r\nTo: support@support.esg.test\r\n"
        "Subject: The full export\r\nMessage-ID: <big-0001@client.test>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'
        "The export is attached.\r\n\r\n--b1\r\n"
        f'Content-Type: {ctype}; name="{filename}"\r\nContent-Disposition: attachment; filename="{filename}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode()
    return head + encoded.replace(b"\n", b"\r\n") + b"\r\n--b1--\r\n"


def test_a_20_mb_attachment_is_stored(ann):
    data = b"%PDF-1.4\n" + os.urandom(20 * 1024 * 1024) + b"\n%%EOF\n"
    inbound = ingest(_with_attachment("export.pdf", "application/pdf", data))
    assert inbound.size > 27 * 1024 * 1024 and not inbound.raw_truncated
    assert inbound.outcome == "new_ticket" and _body(inbound) == "The export is attached."
    [stored] = db.session.scalars(select(Attachment).where(Attachment.inbound_id == inbound.id))
    assert (stored.filename, stored.content_type, stored.size) == ("export.pdf", "application/pdf", len(data))


def test_a_refused_attachment_is_noted_and_the_message_kept(ann):
    inbound = ingest(_with_attachment("setup.exe", "application/octet-stream", b"MZ\x90\x00" + b"\x00" * 200))
    assert inbound.state.value == "processed" and inbound.outcome == "new_ticket"
    assert "setup.exe" in inbound.detail and "refused" in inbound.detail and "setup.exe" in inbound.thread_detail
    assert _files(inbound) == [] and _body(inbound) == "The export is attached."
    assert db.session.get(TicketEvent, inbound.event_id).kind is EventKind.created
