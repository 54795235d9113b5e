"""Accepting is atomic: two agents racing for one chat, one wins; an agent with every seat taken cannot accept."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import User
from portal.models.chat import Chat, ChatMessage, ChatStatus
from portal.services.chat import core
from tests.chat.conftest import online, open_chat


def _race(app, agent_ids, chat_ids):
    """Each (agent, chat) pair accepts in its own thread, app context and database session, released together."""
    barrier = threading.Barrier(len(agent_ids))
    results: dict[int, str] = {}

    def run(index, agent_id, chat_id):
        with app.app_context():
            agent = db.session.get(User, agent_id)
            barrier.wait()
            try:
                core.accept(agent, chat_id)
                db.session.commit()
                results[index] = "won"
            except core.ChatConflict as exc:
                db.session.rollback()
                results[index] = exc.message
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=run, args=(i, a, c)) for i, (a, c) in enumerate(zip(agent_ids, chat_ids, strict=True))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return [results[i] for i in range(len(threads))]


def test_two_agents_accepting_one_chat_one_wins(app, cast):
    online(cast.agent, cast.agent2)
    chat = open_chat(cast.a1)
    results = _race(app, [cast.agent.id, cast.agent2.id], [chat.id, chat.id])
    assert sorted(results) == ["Another agent has taken this chat.", "won"]
    db.session.expire_all()
    chat = db.session.get(Chat, chat.id)
    winner = cast.agent if results[0] == "won" else cast.agent2
    assert chat.status is ChatStatus.active and chat.agent_id == winner.id
    joined = db.session.scalar(
        select(func.count())
        .select_from(ChatMessage)
        .where(ChatMessage.chat_id == chat.id, ChatMessage.kind == "system")
    )
    assert joined == 1  # one "joined" notice: nobody was assigned twice


def test_one_agent_racing_for_two_chats_on_the_last_seat(app, cast, monkeypatch):
    monkeypatch.setitem(app.config, "CHAT_SEATS", 1)
    online(cast.agent)
    first, second = open_chat(cast.a1), open_chat(cast.a2)
    results = _race(app, [cast.agent.id, cast.agent.id], [first.id, second.id])
    assert sorted(results) == ["All your 1 chat seats are taken: end a chat first.", "won"]
    db.session.expire_all()
    assert core.active_counts() == {cast.agent.id: 1}


def test_a_full_agent_cannot_accept_until_a_chat_ends(app, cast, monkeypatch):
    monkeypatch.setitem(app.config, "CHAT_SEATS", 1)
    online(cast.agent, cast.agent2)
    held = core.accept(cast.agent, open_chat(cast.a1).id)
    db.session.commit()
    waiting = open_chat(cast.a2)
    with pytest.raises(core.ChatConflict, match="seats are taken"):
        core.accept(cast.agent, waiting.id)
    db.session.rollback()
    core.end_chat(cast.agent, held, "agent")
    db.session.commit()
    assert core.accept(cast.agent, waiting.id).agent_id == cast.agent.id


def test_only_agents_accept_and_ended_chats_cannot_be_taken(app, cast):
    online(cast.agent)
    chat = open_chat(cast.a1)
    for user in (cast.manager, cast.admin, cast.a2):
        with pytest.raises(core.Forbidden):
            core.accept(user, chat.id)
    core.end_chat(cast.a1, chat, "visitor")
    db.session.commit()
    with pytest.raises(core.ChatConflict, match="ended"):
        core.accept(cast.agent, chat.id)


def test_console_accept_over_http_answers_409_to_the_loser(app, cast, client, login_as):
    online(cast.agent, cast.agent2)
    chat = open_chat(cast.a1)
    core.accept(cast.agent2, chat.id)
    db.session.commit()
    http, token = login_as(cast.agent)
    response = http.post(f"/agent/chat/{chat.id}/accept", headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert response.status_code == 409
    assert "Another agent has taken this chat." in response.text
    assert response.headers["HX-Retarget"] == "#chat-console-notice"
