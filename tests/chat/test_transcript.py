"""A chat becomes a ticket (channel chat) with its transcript as the thread; the transcript email goes through the
outbox only to the verified requester."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from portal.extensions import db
from portal.models import Channel, EventKind, OutboxMessage, Ticket, TicketEvent
from portal.services.chat import core
from tests.chat.conftest import online, open_chat, run_jobs

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _talk(cast):
    with time_machine.travel(T0, tick=False):
        online(cast.agent)
        chat = open_chat(cast.a1, "My import fails at row 3")
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        core.accept(cast.agent, chat.id)
        core.post_message(cast.agent, chat, "Which file? Send it to me at help@evil.test")
        db.session.commit()
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        core.post_message(cast.a1, chat, "scope2.xlsx — and copy me at someone@elsewhere.test")
        core.post_message(cast.agent, chat, "Fixed: the unit column was empty.")
        db.session.commit()
    return chat


def test_an_ended_chat_is_a_ticket_with_its_transcript(app, cast):
    chat = _talk(cast)
    with time_machine.travel(T0 + timedelta(minutes=3), tick=False):
        core.end_chat(cast.a1, chat, "visitor")
        db.session.commit()
    ticket = db.session.get(Ticket, chat.ticket_id)
    assert ticket.channel is Channel.chat and ticket.requester_id == cast.a1.id
    assert ticket.subject == "Chat: My import fails at row 3"
    assert ticket.description == "My import fails at row 3"
    replies = db.session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.public_reply)
        .order_by(TicketEvent.id)
    ).all()
    assert [(e.author_id, e.body) for e in replies] == [
        (cast.agent.id, "Which file? Send it to me at help@evil.test"),
        (cast.a1.id, "scope2.xlsx — and copy me at someone@elsewhere.test"),
        (cast.agent.id, "Fixed: the unit column was empty."),
    ]
    # the history is the chat's own: created at the first line, each reply when written, the agent's first line
    # the first response (one minute, not the three the chat lasted), and the SLA facts follow from that
    assert ticket.created_at == T0
    assert [e.created_at for e in replies] == [T0 + timedelta(minutes=1)] + [T0 + timedelta(minutes=2)] * 2
    assert ticket.first_response_at == T0 + timedelta(minutes=1)
    assert ticket.first_response_achieved_at == T0 + timedelta(minutes=1)
    assert ticket.first_response_due == T0 + timedelta(minutes=240)  # medium: 4 hours from the first line
    assert ticket.assignee_id == cast.agent.id
    # one transcript email instead of one reply notification per agent line
    kinds = [m.kind for m in db.session.scalars(select(OutboxMessage))]
    assert kinds.count("chat.transcript") == 1 and "notify.ticket_reply" not in kinds
    # ending again changes nothing
    core.end_chat(cast.a1, chat, "visitor")
    db.session.commit()
    assert db.session.scalars(select(Ticket)).all() == [ticket]


def test_the_transcript_email_goes_only_to_the_verified_requester(app, cast, smtp):
    chat = _talk(cast)
    core.end_chat(cast.agent, chat, "agent")
    db.session.commit()
    run_jobs()
    transcripts = [m for m in smtp.messages if "Your chat with ESG Support" in m["Subject"]]
    assert len(transcripts) == 1
    mail = transcripts[0]
    assert mail["To"] == cast.a1.email
    recipients = {addr for m in smtp.messages for addr in (m["To"] or "").split(",")}
    assert "help@evil.test" not in recipients and "someone@elsewhere.test" not in recipients
    body = mail.get_body(("plain",)).get_content()
    assert "Fixed: the unit column was empty." in body and "You: scope2.xlsx" in body
    assert db.session.get(Ticket, chat.ticket_id).reference in mail["Subject"]


def test_no_transcript_email_to_an_unverified_address(app, cast, smtp):
    cast.a1.email_verified_at = None
    db.session.commit()
    chat = _talk(cast)
    core.end_chat(cast.a1, chat, "visitor")
    db.session.commit()
    run_jobs()
    assert not [m for m in smtp.messages if "Your chat" in m["Subject"]]
    assert chat.ticket_id is not None  # the ticket is filed all the same
