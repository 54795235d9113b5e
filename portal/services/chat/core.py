"""Chats: who may take them and when (business hours, presence heartbeats, seats), starting, accepting, talking,
typing, ending, and the periodic timeouts.

Every function takes ``now`` so tests and jobs control the clock. Nothing here commits; callers do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.orm import aliased

from portal.extensions import db
from portal.models import Role, User, utcnow
from portal.models.chat import Chat, ChatAgent, ChatMessage, ChatStatus, PresenceState
from portal.models.sla import Calendar
from portal.params import bad_text
from portal.services import sla
from portal.services.chat import transcript
from portal.services.errors import Forbidden, NotFound, ServiceError, ValidationFailed

AGENT_ROLES = frozenset({Role.agent, Role.senior_agent})  # take chats
WATCH_ROLES = AGENT_ROLES | {Role.manager}  # see the console
OPEN_STATUSES = (ChatStatus.waiting, ChatStatus.active)


class ChatConflict(ServiceError):
    """Somebody else got there first (the chat was taken or has ended), or the agent has no free seat."""

    status_code = 409
    code = "conflict"


# --------------------------------------------------------------------------- roles


def can_take_chats(user: User | None) -> bool:
    return user is not None and user.is_active and user.role in AGENT_ROLES


def can_watch(user: User | None) -> bool:
    return user is not None and user.is_active and user.role in WATCH_ROLES


# --------------------------------------------------------------------------- presence and seats


def presence_of(user: User) -> ChatAgent:
    row = db.session.get(ChatAgent, user.id)
    if row is None:
        row = ChatAgent(user_id=user.id, state=PresenceState.away)
        db.session.add(row)
        db.session.flush()
    return row


def set_presence(user: User, state: str, now: datetime | None = None) -> ChatAgent:
    """Online (taking new chats, and a heartbeat now) or Away (no new chats; open ones go on)."""
    if not can_take_chats(user):
        raise Forbidden("Only agents take chats.")
    try:
        wanted = PresenceState(state)
    except ValueError:
        raise ValidationFailed("Unknown presence.", {"state": "Choose online or away."}) from None
    row = presence_of(user)
    row.state = wanted
    if wanted is PresenceState.online:
        row.heartbeat_at = now or utcnow()
    return row


def heartbeat(user: User, now: datetime | None = None) -> ChatAgent:
    """The console tab is still open. The Online/Away choice stays as it is."""
    if not can_take_chats(user):
        raise Forbidden("Only agents take chats.")
    row = presence_of(user)
    row.heartbeat_at = now or utcnow()
    return row


def seats_of(row: ChatAgent | None) -> int:
    if row is not None and row.seats is not None:
        return max(row.seats, 0)
    return current_app.config["CHAT_SEATS"]


def is_present(row: ChatAgent | None, now: datetime) -> bool:
    """Online, and the console's last heartbeat is recent enough (a closed laptop stops sending them)."""
    timeout = timedelta(seconds=current_app.config["CHAT_PRESENCE_TIMEOUT_SECONDS"])
    return (
        row is not None
        and row.state is PresenceState.online
        and row.heartbeat_at is not None
        and row.heartbeat_at >= now - timeout
    )


def active_counts(agent_ids: list[int] | None = None) -> dict[int, int]:
    query = (
        select(Chat.agent_id, func.count())
        .where(Chat.status == ChatStatus.active, Chat.agent_id.is_not(None))
        .group_by(Chat.agent_id)
    )
    if agent_ids is not None:
        query = query.where(Chat.agent_id.in_(agent_ids))
    return dict(db.session.execute(query).tuples().all())


def free_agents(now: datetime) -> list[User]:
    """Agents who are present and have a free seat."""
    timeout = timedelta(seconds=current_app.config["CHAT_PRESENCE_TIMEOUT_SECONDS"])
    rows = db.session.execute(
        select(ChatAgent, User)
        .join(User, User.id == ChatAgent.user_id)
        .where(
            User.role.in_(AGENT_ROLES),
            ChatAgent.state == PresenceState.online,
            ChatAgent.heartbeat_at >= now - timeout,
        )
        .order_by(User.id)
    ).all()
    present = [(row, user) for row, user in rows if user.is_active]
    if not present:
        return []
    counts = active_counts([user.id for _row, user in present])
    return [user for row, user in present if counts.get(user.id, 0) < seats_of(row)]


# --------------------------------------------------------------------------- hours and availability


def chat_calendar() -> Calendar | None:
    name = current_app.config.get("CHAT_CALENDAR") or ""
    return db.session.scalar(select(Calendar).where(Calendar.name == name)) if name else None


def in_hours(now: datetime) -> bool:
    """Within the chat calendar's working hours (or its holidays excluded); 24/7 without a chat calendar."""
    calendar = sla.work_calendar(chat_calendar())
    if calendar is None:
        return True
    local_day = now.astimezone(_zone(calendar.timezone)).date()
    return any(
        start <= now < end
        for day in (local_day - timedelta(days=1), local_day)
        for start, end in calendar.intervals(day)
    )


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


@dataclass(frozen=True)
class Availability:
    open: bool
    reason: str  # "open", "closed" (outside the chat hours) or "busy" (nobody present with a free seat)


def availability(now: datetime | None = None) -> Availability:
    now = now or utcnow()
    if not in_hours(now):
        return Availability(False, "closed")
    if not free_agents(now):
        return Availability(False, "busy")
    return Availability(True, "open")


# --------------------------------------------------------------------------- finding chats


def open_chat_of(visitor: User) -> Chat | None:
    return db.session.scalar(
        select(Chat)
        .where(Chat.visitor_id == visitor.id, Chat.status.in_(OPEN_STATUSES))
        .order_by(Chat.id.desc())
        .limit(1)
    )


def chat_for_visitor(visitor: User, chat_id: int | None) -> Chat:
    """The visitor's own chat (404 for anyone else's: they cannot tell it exists)."""
    chat = db.session.get(Chat, chat_id) if chat_id else None
    if chat is None or chat.visitor_id != visitor.id:
        raise NotFound("No such chat.")
    return chat


def chat_for_staff(user: User, chat_id: int | None) -> Chat:
    if not can_watch(user):
        raise Forbidden("Only the support team sees the chat console.")
    chat = db.session.get(Chat, chat_id) if chat_id else None
    if chat is None:
        raise NotFound("No such chat.")
    return chat


def waiting_chats() -> list[Chat]:
    return list(db.session.scalars(select(Chat).where(Chat.status == ChatStatus.waiting).order_by(Chat.id)))


def console_chats(user: User) -> list[Chat]:
    """The chats a console shows as panes: an agent's own active chats; for a manager, every active chat."""
    query = select(Chat).where(Chat.status == ChatStatus.active).order_by(Chat.id)
    if user.role in AGENT_ROLES:
        query = query.where(Chat.agent_id == user.id)
    return list(db.session.scalars(query))


def console_chat_ids(user: User, now: datetime) -> set[int]:
    """The panes a console stream follows from its start: the active chats, and those ended in the last two minutes
    (a chat that ended while the tab's stream was reconnecting must still be told to its pane)."""
    ended = select(Chat.id).where(Chat.status == ChatStatus.ended, Chat.ended_at >= now - timedelta(minutes=2))
    if user.role in AGENT_ROLES:
        ended = ended.where(Chat.agent_id == user.id)
    return {c.id for c in console_chats(user)} | set(db.session.scalars(ended))


# --------------------------------------------------------------------------- talking


def clean_body(body: object) -> str:
    text = (body if isinstance(body, str) else "").replace("\r\n", "\n").strip()
    limit = current_app.config["CHAT_MESSAGE_MAX"]
    if not text:
        raise ValidationFailed("Type a message.", {"body": "Type a message."})
    if len(text) > limit:
        raise ValidationFailed("The message is too long.", {"body": f"At most {limit} characters."})
    if bad_text(text):
        raise ValidationFailed("Remove the control characters.", {"body": "Remove the control characters."})
    return text


def _add(chat: Chat, kind: str, body: str, author: User | None, now: datetime) -> ChatMessage:
    message = ChatMessage(chat=chat, kind=kind, body=body, author=author, created_at=now)
    db.session.add(message)
    if kind != "system":
        chat.last_message_at = now
    db.session.flush()
    return message


def start_chat(visitor: User, body: object, *, site_id: int | None = None, now: datetime | None = None) -> Chat:
    """Open a chat with its first message, only while chat is available (else the visitor is offered the ticket
    form). A visitor with an open chat keeps it: the message goes there."""
    now = now or utcnow()
    if visitor is None or not visitor.is_customer or not visitor.is_active:
        raise Forbidden("Sign in as a customer to chat.")
    text = clean_body(body)
    existing = open_chat_of(visitor)
    if existing is not None:
        _add(existing, "visitor", text, visitor, now)
        existing.visitor_typing_at = None
        return existing
    if not availability(now).open:
        raise ValidationFailed("Live chat is not available right now.", {"body": "Leave a message instead."})
    chat = Chat(visitor=visitor, site_id=site_id, status=ChatStatus.waiting, created_at=now, last_message_at=now)
    db.session.add(chat)
    db.session.flush()
    _add(chat, "visitor", text, visitor, now)
    return chat


def post_message(actor: User, chat: Chat, body: object, now: datetime | None = None) -> ChatMessage:
    """A visitor writes in their own open chat; an agent in a chat they hold. Managers watch, they do not write."""
    now = now or utcnow()
    text = clean_body(body)
    if actor.id == chat.visitor_id and actor.is_customer:
        kind = "visitor"
        chat.visitor_typing_at = None
    elif chat.agent_id == actor.id and can_take_chats(actor):
        kind = "agent"
        chat.agent_typing_at = None
    else:
        raise Forbidden("This is not your chat.")
    if not chat.is_open:
        raise ValidationFailed("This chat has ended.", {"body": "This chat has ended."})
    if kind == "agent" and chat.status is not ChatStatus.active:
        raise ValidationFailed("Accept the chat first.", {"body": "Accept the chat first."})
    return _add(chat, kind, text, actor, now)


def set_typing(actor: User, chat: Chat, now: datetime | None = None) -> None:
    now = now or utcnow()
    if not chat.is_open:
        return
    if actor.id == chat.visitor_id and actor.is_customer:
        chat.visitor_typing_at = now
    elif chat.agent_id == actor.id and can_take_chats(actor):
        chat.agent_typing_at = now
    else:
        raise Forbidden("This is not your chat.")


def typing_shown(at: datetime | None, now: datetime) -> bool:
    return at is not None and at >= now - timedelta(seconds=current_app.config["CHAT_TYPING_SECONDS"])


# --------------------------------------------------------------------------- accepting


def accept(agent: User, chat_id: int, now: datetime | None = None) -> Chat:
    """Take a waiting chat. One conditional UPDATE decides: only a chat still waiting, only while the agent's
    active chats are fewer than their seats (the agent's presence row is locked first on PostgreSQL, so two accepts
    by the same agent count one after the other). Two agents racing for one chat: one wins, the other gets a
    ``ChatConflict``."""
    now = now or utcnow()
    if not can_take_chats(agent):
        raise Forbidden("Only agents take chats.")
    presence_of(agent)
    row = db.session.scalar(select(ChatAgent).where(ChatAgent.user_id == agent.id).with_for_update())
    seats = seats_of(row)
    mine = aliased(Chat)
    held = (
        select(func.count())
        .select_from(mine)
        .where(mine.agent_id == agent.id, mine.status == ChatStatus.active)
        .scalar_subquery()
    )
    result = db.session.execute(
        update(Chat)
        .where(Chat.id == chat_id, Chat.status == ChatStatus.waiting, held < seats)
        .values(status=ChatStatus.active, agent_id=agent.id, accepted_at=now, last_message_at=now)
        .execution_options(synchronize_session=False)
    )
    chat = db.session.get(Chat, chat_id)
    if chat is None:
        raise NotFound("No such chat.")
    db.session.refresh(chat)
    if result.rowcount != 1:
        if chat.status is ChatStatus.waiting:
            raise ChatConflict(f"All your {seats} chat seats are taken: end a chat first.")
        raise ChatConflict("Another agent has taken this chat." if chat.is_open else "This chat has ended.")
    _add(chat, "system", f"{agent.name} joined the chat.", None, now)
    return chat


def transfer(agent: User, chat: Chat, to: User, now: datetime | None = None) -> Chat:
    """Hand an active chat to another agent who is present and has a free seat."""
    now = now or utcnow()
    if chat.agent_id != agent.id or chat.status is not ChatStatus.active:
        raise Forbidden("This is not your chat.")
    if to.id == agent.id or to not in free_agents(now):
        raise ValidationFailed("That agent cannot take a chat now.", {"to": "Choose an agent who is online."})
    chat.agent = to
    _add(chat, "system", f"{agent.name} handed the chat to {to.name}.", None, now)
    return chat


# --------------------------------------------------------------------------- ending

END_NOTICES = {
    "visitor": "The visitor ended the chat.",
    "agent": "{agent} ended the chat.",
    "idle": "The chat ended after {minutes} minutes without a message.",
    "unanswered": "Nobody could take the chat in time: we will answer you by email.",
}


def end_chat(actor: User | None, chat: Chat, reason: str, now: datetime | None = None) -> Chat:
    """End the chat (the visitor, its agent, or a timeout with ``actor`` None); its transcript becomes a ticket and
    the verified requester is emailed a copy. Ending an ended chat changes nothing."""
    now = now or utcnow()
    if actor is not None:
        if actor.id == chat.visitor_id and actor.is_customer:
            reason = "visitor"
        elif chat.agent_id == actor.id and can_take_chats(actor):
            reason = "agent"
        else:
            raise Forbidden("This is not your chat.")
    if not chat.is_open:
        return chat
    chat.status = ChatStatus.ended
    chat.ended_at = now
    chat.ended_reason = reason
    chat.visitor_typing_at = chat.agent_typing_at = None
    notice = END_NOTICES.get(reason, "The chat ended.").format(
        agent=chat.agent.name if chat.agent else "The agent", minutes=current_app.config["CHAT_IDLE_MINUTES"]
    )
    _add(chat, "system", notice, None, now)
    transcript.file_ticket(chat)
    return chat


def end_timed_out(now: datetime | None = None) -> dict[str, int]:
    """The periodic job's work: active chats without a message for ``CHAT_IDLE_MINUTES`` end; waiting chats nobody
    accepted within ``CHAT_WAIT_MINUTES`` end as unanswered (their ticket is answered by email)."""
    now = now or utcnow()
    idle_before = now - timedelta(minutes=current_app.config["CHAT_IDLE_MINUTES"])
    wait_before = now - timedelta(minutes=current_app.config["CHAT_WAIT_MINUTES"])
    idle = list(
        db.session.scalars(
            select(Chat).where(Chat.status == ChatStatus.active, Chat.last_message_at < idle_before).order_by(Chat.id)
        )
    )
    unanswered = list(
        db.session.scalars(
            select(Chat).where(Chat.status == ChatStatus.waiting, Chat.created_at < wait_before).order_by(Chat.id)
        )
    )
    for chat in idle:
        end_chat(None, chat, "idle", now)
    for chat in unanswered:
        end_chat(None, chat, "unanswered", now)
    return {"idle": len(idle), "unanswered": len(unanswered)}
