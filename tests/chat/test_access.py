"""Authorization: a visitor reads, writes, streams and ends only their own chats; the console is for staff (agents
take chats, managers watch); anonymous requests are refused; the widget session authenticates without a cookie."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models.chat import Chat, ChatStatus
from portal.services.chat import core
from tests.chat.conftest import online, open_chat
from tests.conftest import csrf_token, login


@pytest.fixture
def chat(app, cast):
    online(cast.agent)
    chat = open_chat(cast.a1, "A secret about Plant B")
    core.accept(cast.agent, chat.id)
    core.post_message(cast.agent, chat, "Agent line for Ada only")
    db.session.commit()
    return chat


@pytest.fixture
def short_streams(app, monkeypatch):
    monkeypatch.setitem(app.config, "CHAT_STREAM_SECONDS", 0)


def test_another_customer_cannot_read_post_stream_or_end(app, cast, chat, client, short_streams):
    for intruder in (cast.a2, cast.b1):  # same organization or not: a chat is its visitor's own
        assert login(client, intruder).status_code == 302
        token = csrf_token(client)
        headers = {"X-CSRFToken": token}
        assert client.get(f"/chat/stream?chat={chat.id}", buffered=True).status_code == 404
        assert client.get(f"/chat/poll?chat={chat.id}").status_code == 404
        assert client.post(f"/chat/{chat.id}/messages", data={"body": "hi"}, headers=headers).status_code == 404
        assert client.post(f"/chat/{chat.id}/typing", headers=headers).status_code == 404
        assert client.post(f"/chat/{chat.id}/end", headers=headers).status_code == 404
        panel = client.get("/chat/panel")
        assert panel.status_code == 200 and "A secret about Plant B" not in panel.text
        client.post("/logout", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Chat, chat.id).status is ChatStatus.active
    assert [m.body for m in chat.messages if m.kind == "visitor"] == ["A secret about Plant B"]


def test_anonymous_is_refused(app, chat, client, short_streams):
    assert client.get("/chat").status_code == 302  # the page: sign in first
    for path in ("/chat/panel", f"/chat/stream?chat={chat.id}", f"/chat/poll?chat={chat.id}"):
        assert client.get(path, buffered=True).status_code == 401, path
    assert client.post("/chat/start", data={"body": "hi"}).status_code == 400  # no session, no CSRF token
    assert client.get("/agent/chat").status_code == 302
    assert client.get("/agent/chat/stream", buffered=True).status_code == 302
    assert client.get(f"/chat/stream?chat={chat.id}&ws=forged", buffered=True).status_code == 401


def test_the_owner_sees_the_agents_messages_on_the_stream(app, cast, chat, client, login_as, short_streams):
    http, _token = login_as(cast.a1)
    text = http.get(f"/chat/stream?chat={chat.id}&since=0", buffered=True).get_data(as_text=True)
    assert text.startswith("retry: 1500")
    assert "event: message" in text and "Agent line for Ada only" in text and "A secret about Plant B" in text
    assert "You are chatting with Alex Agent." in text
    last = max(m.id for m in chat.messages)
    # a reconnect names what the tab has (Last-Event-ID): nothing is sent again
    event_id = [line for line in text.splitlines() if line.startswith("id: ")][-1][4:]
    assert event_id.startswith(f"{last}.")
    again = http.get(f"/chat/stream?chat={chat.id}", headers={"Last-Event-ID": event_id}, buffered=True)
    assert "event:" not in again.get_data(as_text=True)


def test_customers_and_admins_never_see_the_console(app, cast, chat, client, short_streams):
    for user in (cast.a1, cast.admin):
        assert login(client, user).status_code == 302
        assert client.get("/agent/chat").status_code == 404
        assert client.get("/agent/chat/stream", buffered=True).status_code == 404
        assert (
            client.post(
                f"/agent/chat/{chat.id}/messages", data={"body": "x"}, headers={"X-CSRFToken": csrf_token(client)}
            ).status_code
            == 404
        )
        client.post("/logout", data={"csrf_token": csrf_token(client)})


def test_a_manager_watches_but_does_not_write(app, cast, chat, client, login_as, short_streams):
    http, token = login_as(cast.manager)
    page = http.get("/agent/chat")
    assert page.status_code == 200 and "Agent line for Ada only" in page.text
    assert (
        http.post(f"/agent/chat/{chat.id}/messages", data={"body": "x"}, headers={"X-CSRFToken": token}).status_code
        == 403
    )
    stream = http.get("/agent/chat/stream?since=0", buffered=True).get_data(as_text=True)
    assert f"event: message-{chat.id}" in stream


def test_an_agent_cannot_write_in_another_agents_chat(app, cast, chat, client, login_as):
    http, token = login_as(cast.agent2)
    response = http.post(f"/agent/chat/{chat.id}/messages", data={"body": "x"}, headers={"X-CSRFToken": token})
    assert response.status_code == 403


def test_the_widget_session_works_without_a_cookie_or_csrf_token(app, cast, client, widget_token, short_streams):
    online(cast.agent)
    token = widget_token(cast.a1)
    headers = {"X-Widget-Session": token, "HX-Request": "true"}
    panel = client.get("/chat/panel", headers=headers)
    assert panel.status_code == 200 and "Start chat" in panel.text
    assert "X-Widget-Session" in panel.text and f"ws={token}" in panel.text  # the stream carries it as ws
    started = client.post("/chat/start", data={"body": "From the widget"}, headers=headers)
    assert started.status_code == 200, started.text
    chat = db.session.scalar(db.select(Chat))
    assert chat.visitor_id == cast.a1.id and chat.site_id is not None
    sent = client.post(f"/chat/{chat.id}/messages", data={"body": "Second line"}, headers=headers)
    assert sent.status_code == 200 and "Second line" in sent.text
    stream = client.get(f"/chat/stream?chat={chat.id}&since=0&ws={token}", buffered=True)
    assert stream.status_code == 200 and "Second line" in stream.get_data(as_text=True)
    # another visitor's widget session cannot reach it
    other = {"X-Widget-Session": widget_token(cast.b1)}
    assert client.post(f"/chat/{chat.id}/messages", data={"body": "x"}, headers=other).status_code == 404


def test_cookie_requests_still_need_the_csrf_token(app, cast, client, login_as):
    online(cast.agent)
    http, token = login_as(cast.a1)
    assert http.post("/chat/start", data={"body": "hi"}).status_code == 400
    assert http.post("/chat/start", data={"body": "hi"}, headers={"X-Widget-Session": "forged"}).status_code == 400
    assert http.post("/chat/start", data={"body": "hi"}, headers={"X-CSRFToken": token}).status_code == 200


def test_messages_are_plain_text_and_length_limited(app, cast, client, login_as, monkeypatch):
    monkeypatch.setitem(app.config, "CHAT_MESSAGE_MAX", 50)
    online(cast.agent)
    http, token = login_as(cast.a1)
    started = http.post("/chat/start", data={"body": "<script>alert(1)</script>"}, headers={"X-CSRFToken": token})
    assert "<script>alert(1)</script>" not in started.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in started.text
    chat = db.session.scalar(db.select(Chat))
    too_long = http.post(f"/chat/{chat.id}/messages", data={"body": "x" * 51}, headers={"X-CSRFToken": token})
    assert too_long.status_code == 422 and "At most 50 characters." in too_long.text
    empty = http.post(f"/chat/{chat.id}/messages", data={"body": "  "}, headers={"X-CSRFToken": token})
    assert empty.status_code == 422
