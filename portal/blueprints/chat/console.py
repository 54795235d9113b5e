"""The agent console (/agent/chat): presence (Online/Away, the tab's heartbeat, the closing tab's beacon), the
waiting chats, the agent's own chats as panes (reply, typing, end, hand over). Agents and senior agents take
chats; managers watch every active chat; other roles get 404 (customers cannot tell the console exists)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, current_app, make_response, render_template, request, url_for
from flask_login import current_user, login_required

from portal.blueprints.chat import live
from portal.extensions import db
from portal.models import Ticket, User, utcnow
from portal.params import id_param, parse_id
from portal.services.chat import core
from portal.services.chat import live as facts_service
from portal.services.chat.transcript import transcript_of
from portal.services.errors import ServiceError, ValidationFailed


def console_only(view: Callable) -> Callable:
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not core.can_watch(current_user):
            abort(404)
        return view(*args, **kwargs)

    return wrapper


def _me() -> User:
    return current_user._get_current_object()


def _chat(chat_id: int):
    try:
        return core.chat_for_staff(_me(), chat_id)
    except ServiceError:
        abort(404)


# --------------------------------------------------------------------------- rendering


def _presence_html(user: User) -> str:
    row = db.session.get(core.ChatAgent, user.id) if core.can_take_chats(user) else None
    now = utcnow()
    return render_template(
        "chat/partials/_presence.html",
        row=row,
        present=core.is_present(row, now),
        can_take=core.can_take_chats(user),
        seats=core.seats_of(row),
        held=core.active_counts([user.id]).get(user.id, 0),
    )


def _waiting_html(user: User) -> str:
    chats = core.waiting_chats()
    firsts = {c.id: next((m for m in transcript_of(c) if m.kind == "visitor"), None) for c in chats}
    return render_template(
        "chat/partials/_waiting.html", chats=chats, firsts=firsts, can_take=core.can_take_chats(user)
    )


def _state_html(user: User, chat) -> str:
    ticket = db.session.get(Ticket, chat.ticket_id) if chat.ticket_id else None
    others = []
    if chat.agent_id == user.id and chat.status is core.ChatStatus.active:
        others = [a for a in core.free_agents(utcnow()) if a.id != user.id]
    return render_template(
        "chat/partials/_pane_state.html", chat=chat, ticket=ticket, mine=chat.agent_id == user.id, others=others
    )


def _message_html(message, user: User) -> str:
    return render_template("chat/partials/_message.html", message=message, mine=message.author_id == user.id)


def _typing_html(chat, shown: bool) -> str:
    return render_template("chat/partials/_typing.html", who=chat.visitor.name) if shown else live.NOBODY_TYPING


def _pane_html(user: User, chat) -> str:
    now = utcnow()
    return render_template(
        "chat/partials/_pane.html",
        chat=chat,
        viewer=user,
        messages=transcript_of(chat),
        state_html=_state_html(user, chat),
        typing_html=_typing_html(chat, core.typing_shown(chat.visitor_typing_at, now)),
        mine=chat.agent_id == user.id and chat.is_open,
        message_max=current_app.config["CHAT_MESSAGE_MAX"],
    )


# --------------------------------------------------------------------------- page


@console_only
def page():
    user = _me()
    now = utcnow()
    # no write on a GET: the page's first heartbeat is a POST sent as soon as it loads
    chats = core.console_chats(user)
    facts = facts_service.console_facts(user, chats, now)
    last_id = max((m.id for c in chats for m in transcript_of(c)), default=0)
    cursor = facts_service.Cursor(last_id, facts_service.digest(facts))
    return render_template(
        "chat/console.html",
        presence_html=_presence_html(user),
        waiting_html=_waiting_html(user),
        panes=[_pane_html(user, c) for c in chats],
        can_take=core.can_take_chats(user),
        stream_url=url_for("chat.console_stream", since=str(cursor)),
        poll_url=url_for("chat.console_poll"),
        since=str(cursor),
        heartbeat_seconds=current_app.config["CHAT_HEARTBEAT_SECONDS"],
        poll_seconds=current_app.config["CHAT_POLL_SECONDS"],
    )


# --------------------------------------------------------------------------- presence


@console_only
def presence():
    """Online/Away from the buttons; ``heartbeat`` from the open tab every ``CHAT_HEARTBEAT_SECONDS``; ``gone``
    from the closing tab's beacon (the heartbeat stops counting at once; the Online/Away choice is kept for the
    next time the console opens)."""
    user = _me()
    if not core.can_take_chats(user):
        abort(403)
    state = request.form.get("state", "")
    if state == "heartbeat":
        core.heartbeat(user)
        db.session.commit()
        return "", 204
    if state == "gone":
        core.presence_of(user).heartbeat_at = None
        db.session.commit()
        return "", 204
    try:
        core.set_presence(user, state)
    except ServiceError as exc:
        db.session.rollback()
        return exc.message, 422
    db.session.commit()
    return _presence_html(user)


# --------------------------------------------------------------------------- chats


@console_only
def accept(chat_id: int):
    user = _me()
    try:
        chat = core.accept(user, chat_id)
    except ServiceError as exc:
        db.session.rollback()
        if exc.status_code in (403, 404):
            abort(exc.status_code)
        response = make_response(render_template("chat/partials/_error.html", message=exc.message), 409)
        response.headers["HX-Retarget"] = "#chat-console-notice"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    db.session.commit()
    waiting = f'<div hx-swap-oob="innerHTML:#chat-waiting">{_waiting_html(user)}</div>'
    notice = '<div hx-swap-oob="innerHTML:#chat-console-notice"></div>'
    return _pane_html(user, chat) + waiting + notice


@console_only
def send(chat_id: int):
    user = _me()
    chat = _chat(chat_id)
    try:
        message = core.post_message(user, chat, request.form.get("body"))
    except ServiceError as exc:
        db.session.rollback()
        if exc.status_code == 403:
            abort(403)
        text = next(iter(exc.fields.values()), exc.message)
        response = make_response(render_template("chat/partials/_error.html", message=text), 422)
        response.headers["HX-Retarget"] = f"#chat-compose-error-{chat_id}"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    db.session.commit()
    return _message_html(message, user)


@console_only
def typing(chat_id: int):
    user = _me()
    chat = _chat(chat_id)
    try:
        core.set_typing(user, chat)
    except ServiceError:
        abort(403)
    db.session.commit()
    return "", 204


@console_only
def end(chat_id: int):
    user = _me()
    chat = _chat(chat_id)
    try:
        core.end_chat(user, chat, "agent")
    except ServiceError:
        db.session.rollback()
        abort(403)
    db.session.commit()
    return _state_html(user, chat) + f'<div hx-swap-oob="innerHTML:#chat-compose-{chat.id}"></div>'


@console_only
def transfer(chat_id: int):
    user = _me()
    chat = _chat(chat_id)
    to = db.session.get(User, id_param("to", lenient=True, args=request.form) or 0)
    try:
        if to is None:
            raise ValidationFailed("Choose an agent.")
        core.transfer(user, chat, to)
    except ServiceError as exc:
        db.session.rollback()
        if exc.status_code == 403:
            abort(403)
        response = make_response(render_template("chat/partials/_error.html", message=exc.message), 422)
        response.headers["HX-Retarget"] = "#chat-console-notice"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    db.session.commit()
    return "", 200, {"HX-Trigger": "chat-transferred"}


# --------------------------------------------------------------------------- live


def _console_step(user: User, cursor: facts_service.Cursor, known: set[int]):
    floor = cursor.last_id
    sent: set[int] = set()
    seen: dict[str, object] | None = None
    last = {"id": cursor.last_id}
    watching = not core.can_take_chats(user)
    user_id = user.id

    def step():
        nonlocal seen
        now = utcnow()
        user = db.session.get(User, user_id)  # each read in the session of the moment (objects expire)
        if not core.can_watch(user):
            return None
        chats = facts_service.console_known(user, known)
        events: list[live.Event] = []
        for chat in chats:
            if chat.id not in known:
                known.add(chat.id)
                if watching:  # a manager's console shows every chat an agent takes
                    events.append(live.Event("pane", _pane_html(user, chat), "chat-panes", "beforeend"))
        by_id = {c.id: c for c in chats}
        for message in facts_service.new_messages(list(by_id), floor, last["id"], sent, now):
            sent.add(message.id)
            last["id"] = max(last["id"], message.id)
            target = f"chat-log-{message.chat_id}"
            events.append(live.Event(f"message-{message.chat_id}", _message_html(message, user), target, "beforeend"))
        facts = facts_service.console_facts(user, chats, now)
        for key in facts_service.compare(facts, seen, cursor.digest):
            if key == "waiting":
                events.append(live.Event("waiting", _waiting_html(user), "chat-waiting"))
            elif key == "presence":
                events.append(live.Event("presence", _presence_html(user), "chat-presence"))
            else:
                kind, _, number = key.partition("-")
                chat = by_id[int(number)]
                if kind == "state":
                    html = _state_html(user, chat)
                    if not chat.is_open or chat.agent_id != user.id:
                        html += f'<div hx-swap-oob="innerHTML:#chat-compose-{chat.id}"></div>'
                    events.append(live.Event(f"state-{chat.id}", html, f"chat-state-{chat.id}"))
                else:
                    html = _typing_html(chat, bool(facts[key]))
                    events.append(live.Event(f"typing-{chat.id}", html, f"chat-typing-{chat.id}"))
        seen = facts
        return events, str(facts_service.Cursor(last["id"], facts_service.digest(facts)))

    return step


def _known_param() -> set[int]:
    known = set()
    for part in (request.args.get("chats") or "").split(",")[:50]:
        chat_id = parse_id(part)  # a database id or nothing (never beyond the column's range)
        if chat_id is not None:
            known.add(chat_id)
    return known


@console_only
def stream():
    user = _me()  # the console's rights are checked each time a stream starts
    cursor = facts_service.Cursor.parse(request.headers.get("Last-Event-ID") or request.args.get("since"))
    known = core.console_chat_ids(user, utcnow())
    step = _console_step(user, cursor, known)
    db.session.rollback()
    return live.stream(step)


@console_only
def poll():
    user = _me()
    cursor = facts_service.Cursor.parse(request.args.get("since"))
    known = core.console_chat_ids(user, utcnow()) | _known_param()
    result = _console_step(user, cursor, known)()
    if result is None:
        abort(404)
    events, after = result
    return live.out_of_band(events) + live.poll_cursor("chat-console-cursor", after)
