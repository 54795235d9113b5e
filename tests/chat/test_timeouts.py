"""The periodic job: idle chats end (the visitor is told), unanswered waiting chats become tickets answered by
email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from portal.extensions import db
from portal.models import Status, Ticket
from portal.models.chat import Chat, ChatStatus
from portal.services.chat import core
from portal.services.chat.transcript import transcript_of
from tests.chat.conftest import online, open_chat
from workers.chat import chat_timeouts
from workers.periodic import SCHEDULE

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_the_job_is_scheduled():
    assert chat_timeouts in [task for task, _every, _queue in SCHEDULE]


def test_an_idle_chat_ends_after_the_idle_minutes(app, cast, monkeypatch):
    monkeypatch.setitem(app.config, "CHAT_IDLE_MINUTES", 10)
    with time_machine.travel(T0, tick=False):
        online(cast.agent)
        chat = open_chat(cast.a1)
        core.accept(cast.agent, chat.id)
        core.post_message(cast.agent, chat, "Looking into it")
        db.session.commit()
        chat_id = chat.id
    with time_machine.travel(T0 + timedelta(minutes=9, seconds=59), tick=False):
        assert chat_timeouts() == {"idle": 0, "unanswered": 0}
    with time_machine.travel(T0 + timedelta(minutes=10, seconds=1), tick=False):
        assert chat_timeouts() == {"idle": 1, "unanswered": 0}
    db.session.expire_all()
    chat = db.session.get(Chat, chat_id)
    assert chat.status is ChatStatus.ended and chat.ended_reason == "idle"
    assert transcript_of(chat)[-1].body == "The chat ended after 10 minutes without a message."
    assert chat.ticket_id is not None
    with time_machine.travel(T0 + timedelta(minutes=11), tick=False):
        assert chat_timeouts() == {"idle": 0, "unanswered": 0}


def test_a_chat_nobody_accepts_becomes_a_ticket(app, cast, monkeypatch):
    monkeypatch.setitem(app.config, "CHAT_WAIT_MINUTES", 5)
    with time_machine.travel(T0, tick=False):
        online(cast.agent)
        chat_id = open_chat(cast.a1, "Is the GRI export down?").id
    with time_machine.travel(T0 + timedelta(minutes=4, seconds=59), tick=False):
        assert chat_timeouts()["unanswered"] == 0
    with time_machine.travel(T0 + timedelta(minutes=5, seconds=1), tick=False):
        assert chat_timeouts()["unanswered"] == 1
    db.session.expire_all()
    chat = db.session.get(Chat, chat_id)
    assert chat.ended_reason == "unanswered"
    assert "we will answer you by email" in transcript_of(chat)[-1].body
    ticket = db.session.get(Ticket, chat.ticket_id)
    assert ticket.status is Status.new and ticket.first_response_at is None  # an ordinary ticket now


def test_the_visitor_is_told_on_their_panel(app, cast, client, login_as, monkeypatch):
    monkeypatch.setitem(app.config, "CHAT_WAIT_MINUTES", 5)
    with time_machine.travel(T0, tick=False):
        online(cast.agent)
        chat_id = open_chat(cast.a1).id
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        chat_timeouts()
        http, _token = login_as(cast.a1)
        monkeypatch.setitem(app.config, "CHAT_STREAM_SECONDS", 0)
        stream = http.get(f"/chat/stream?chat={chat_id}&since=0", buffered=True)
        text = stream.get_data(as_text=True)
    assert "event: state" in text and "Nobody could take your chat in time: we will answer you by email." in text
