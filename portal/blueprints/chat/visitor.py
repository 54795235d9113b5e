"""The visitor side: the /chat page (signed-in customers) and the panel it shares with the widget frame.

Who is asking comes from ``services.widget.sessions.visitor()``: inside the widget frame the ``X-Widget-Session``
header (or ``ws`` parameter for the stream, where EventSource sets no header) names the user; in the portal the
session cookie does. CSRF: a request authenticated by the widget header cannot be forged from another site (a
cross-site page can neither read the token nor make a browser attach a custom header), and the frame has no
portal cookie to ride on, so these views are exempt from the global check and run it themselves whenever the
request is authenticated by the cookie (``_check_csrf``).
"""

from __future__ import annotations

from flask import abort, current_app, make_response, render_template, request, url_for
from werkzeug.routing import BuildError

from portal.blueprints.chat import live
from portal.blueprints.common import customer_required
from portal.extensions import csrf, db
from portal.models import Ticket, User, utcnow
from portal.params import id_param
from portal.services.chat import core
from portal.services.chat import live as facts_service
from portal.services.chat.transcript import transcript_of
from portal.services.errors import ServiceError
from portal.services.widget import sessions

# Inside the widget frame "leave a message" brings back the frame's own view with its new-request form (the frame
# keeps the widget session); in the portal it is the new-ticket page.
WIDGET_HOME = "widget.panel"


# --------------------------------------------------------------------------- identity


def _who() -> tuple[User, int | None]:
    who = sessions.visitor()
    if who is None:
        abort(401, "Sign in to chat with us.")
    return who


def _widget_token() -> str | None:
    if sessions.from_request() is None:
        return None
    return request.headers.get(sessions.HEADER) or request.values.get(sessions.PARAM)


def _check_csrf() -> None:
    """The CSRF check for a state change the widget header does not authenticate (see the module's docstring)."""
    if sessions.from_request() is None:
        csrf.protect()


def _rate_limit() -> str:
    return current_app.config["CHAT_RATE_LIMIT"]


def _leave_message(token: str | None) -> dict[str, str | None]:
    """Where "leave a message" goes: ``href`` for a link, ``frame`` when the widget frame reloads its view."""
    if token:
        try:
            return {"href": url_for(WIDGET_HOME), "frame": url_for(WIDGET_HOME)}
        except BuildError:
            pass
    return {"href": url_for("customer.new_ticket"), "frame": None}


# --------------------------------------------------------------------------- rendering


def _state_html(visitor: User, chat, token: str | None) -> str:
    now = utcnow()
    ticket = db.session.get(Ticket, chat.ticket_id) if chat is not None and chat.ticket_id else None
    return render_template(
        "chat/partials/_visitor_state.html",
        chat=chat,
        availability=core.availability(now) if chat is None or not chat.is_open else None,
        ticket=ticket,
        leave=_leave_message(token),
        widget_token=token,
    )


def _message_html(message, visitor: User) -> str:
    return render_template("chat/partials/_message.html", message=message, mine=message.author_id == visitor.id)


def _typing_html(chat) -> str:
    return render_template("chat/partials/_typing.html", who=chat.agent.name if chat and chat.agent else "The agent")


def _panel(visitor: User, chat, token: str | None, status: int = 200, error: str | None = None):
    now = utcnow()
    messages = transcript_of(chat) if chat is not None else []
    facts = facts_service.visitor_facts(visitor, chat, now)
    cursor = facts_service.Cursor(messages[-1].id if messages else 0, facts_service.digest(facts))
    params = {"since": str(cursor), "ws": token}
    if chat is not None:
        params["chat"] = chat.id
    html = render_template(
        "chat/partials/_panel.html",
        chat=chat,
        messages=messages,
        visitor=visitor,
        state_html=_state_html(visitor, chat, token),
        typing=facts["typing"],
        typing_html=_typing_html(chat) if facts["typing"] else "",
        stream_url=url_for("chat.stream", **params),
        poll_url=url_for("chat.poll", chat=chat.id if chat else None, ws=token),
        since=str(cursor),
        poll_seconds=current_app.config["CHAT_POLL_SECONDS"],
        widget_token=token,
        message_max=current_app.config["CHAT_MESSAGE_MAX"],
        error=error,
    )
    return make_response(html, status)


def _chat_param(visitor: User):
    chat_id = id_param("chat")
    if chat_id is None:
        return None
    try:
        return core.chat_for_visitor(visitor, chat_id)
    except ServiceError:
        abort(404)


# --------------------------------------------------------------------------- pages


@customer_required
def page():
    visitor, _site = _who()
    chat = core.open_chat_of(visitor)
    return render_template("chat/visitor.html", panel=_panel(visitor, chat, None).get_data(as_text=True))


def panel():
    visitor, _site = _who()
    return _panel(visitor, core.open_chat_of(visitor), _widget_token())


# --------------------------------------------------------------------------- changes


@csrf.exempt
def start():
    _check_csrf()
    visitor, site_id = _who()
    token = _widget_token()
    try:
        chat = core.start_chat(visitor, request.form.get("body"), site_id=site_id)
    except ServiceError as exc:
        db.session.rollback()
        if exc.status_code == 403:
            abort(403)
        message = next(iter(exc.fields.values()), exc.message)
        return _panel(visitor, core.open_chat_of(visitor), token, status=422, error=message)
    db.session.commit()
    return _panel(visitor, chat, token)


@csrf.exempt
def send(chat_id: int):
    _check_csrf()
    visitor, _site = _who()
    chat = _own(visitor, chat_id)
    try:
        message = core.post_message(visitor, chat, request.form.get("body"))
    except ServiceError as exc:
        db.session.rollback()
        return _compose_error(exc, "chat-compose-error")
    db.session.commit()
    return _message_html(message, visitor)


@csrf.exempt
def typing(chat_id: int):
    _check_csrf()
    visitor, _site = _who()
    chat = _own(visitor, chat_id)
    core.set_typing(visitor, chat)
    db.session.commit()
    return "", 204


@csrf.exempt
def end(chat_id: int):
    _check_csrf()
    visitor, _site = _who()
    chat = _own(visitor, chat_id)
    core.end_chat(visitor, chat, "visitor")
    db.session.commit()
    return _panel(visitor, chat, _widget_token())


def _own(visitor: User, chat_id: int):
    try:
        return core.chat_for_visitor(visitor, chat_id)
    except ServiceError:
        abort(404)


def _compose_error(exc: ServiceError, target: str):
    message = next(iter(exc.fields.values()), exc.message)
    response = make_response(render_template("chat/partials/_error.html", message=message), 422)
    response.headers["HX-Retarget"] = f"#{target}"
    response.headers["HX-Reswap"] = "innerHTML"
    return response


# --------------------------------------------------------------------------- live


def _visitor_step(visitor: User, chat_id: int | None, cursor: facts_service.Cursor, token: str | None):
    """What a visitor tab learns on each read: its chat's new messages, state and typing, or availability."""
    floor = cursor.last_id
    sent: set[int] = set()
    seen: dict[str, object] | None = None
    last = {"id": cursor.last_id}
    visitor_id = visitor.id

    def step():
        nonlocal seen
        now = utcnow()
        visitor = db.session.get(User, visitor_id)  # each read in the session of the moment (objects expire)
        if visitor is None or not visitor.is_active:
            return None
        chat = db.session.get(core.Chat, chat_id) if chat_id else None
        if chat is not None and chat.visitor_id != visitor.id:
            chat = None
        events: list[live.Event] = []
        if chat is not None:
            for message in facts_service.new_messages([chat.id], floor, last["id"], sent, now):
                sent.add(message.id)
                last["id"] = max(last["id"], message.id)
                events.append(live.Event("message", _message_html(message, visitor), "chat-log", "beforeend"))
        facts = facts_service.visitor_facts(visitor, chat, now)
        changed = facts_service.compare(facts, seen, cursor.digest)
        if "state" in changed:
            events.append(live.Event("state", _state_html(visitor, chat, token), "chat-state"))
        if "typing" in changed:
            html = _typing_html(chat) if facts["typing"] else live.NOBODY_TYPING
            events.append(live.Event("typing", html, "chat-typing"))
        seen = facts
        return events, str(facts_service.Cursor(last["id"], facts_service.digest(facts)))

    return step


def stream():
    visitor, _site = _who()  # access is checked each time a stream starts (EventSource reconnects every ~25 s)
    chat = _chat_param(visitor)
    cursor = facts_service.Cursor.parse(request.headers.get("Last-Event-ID") or request.args.get("since"))
    step = _visitor_step(visitor, chat.id if chat else None, cursor, _widget_token())
    db.session.rollback()
    return live.stream(step)


def poll():
    """The fallback without EventSource: the same fragments, as out-of-band swaps, and the poller's new cursor."""
    visitor, _site = _who()
    chat = _chat_param(visitor)
    cursor = facts_service.Cursor.parse(request.args.get("since"))
    result = _visitor_step(visitor, chat.id if chat else None, cursor, _widget_token())()
    if result is None:
        abort(401)
    events, after = result
    return live.out_of_band(events) + live.poll_cursor("chat-poller-cursor", after)
