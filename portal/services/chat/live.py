"""What a live view has to learn since it last looked: new messages (by id, read from the database, so any
process may serve any stream), and a few small facts whose change re-renders a part of the page (the chat's state
and the visitor's availability, who is typing, the waiting list).

A stream remembers what it sent; a reconnecting stream (or a poll) tells it what it had with a cursor: the highest
message id it has, and a short digest of the facts it saw (``Cursor``, the SSE event id).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from portal.extensions import db
from portal.models import User
from portal.models.chat import Chat, ChatMessage
from portal.params import DB_INT_MAX
from portal.services.chat import core

LATE_COMMIT = timedelta(seconds=5)  # a message committed after a higher id was read is still picked up


@dataclass
class Cursor:
    last_id: int = 0
    digest: str = ""

    @classmethod
    def parse(cls, value: str | None) -> Cursor:
        """``"<id>.<digest>"`` as sent in the SSE event id (or the ``since`` parameter); nonsense reads as 0."""
        text = (value or "").strip()[:80]
        number, _, digest = text.partition(".")
        last_id = int(number) if number.isascii() and number.isdigit() and len(number) < 19 else 0
        last_id = min(last_id, DB_INT_MAX)  # no message id is beyond the column's range: "after all of them"
        return cls(last_id, digest if digest.isalnum() else "")

    def __str__(self) -> str:
        return f"{self.last_id}.{self.digest}"


def digest(facts: dict[str, object]) -> str:
    return hashlib.sha1(repr(sorted(facts.items())).encode()).hexdigest()[:10]


def new_messages(chat_ids: list[int], floor: int, last_id: int, sent: set[int], now: datetime) -> list[ChatMessage]:
    """Messages of ``chat_ids`` after ``floor`` (what the page had when the stream started) not sent yet: those after
    ``last_id``, and recent ones a slower transaction committed after a higher id was already read."""
    if not chat_ids:
        return []
    rows = db.session.scalars(
        select(ChatMessage)
        .where(
            ChatMessage.chat_id.in_(chat_ids),
            ChatMessage.id > floor,
            or_(ChatMessage.id > last_id, ChatMessage.created_at >= now - LATE_COMMIT),
        )
        .order_by(ChatMessage.id)
    )
    return [m for m in rows if m.id not in sent]


def visitor_facts(visitor: User, chat: Chat | None, now: datetime) -> dict[str, object]:
    """The visitor panel's state: the chat's status and agent, and while no chat is open, availability."""
    facts: dict[str, object] = {}
    if chat is not None:
        facts["state"] = (chat.status.value, chat.agent_id, chat.ticket_id)
        facts["typing"] = core.typing_shown(chat.agent_typing_at, now) and chat.is_open
    else:
        facts["state"] = ("none", None, None)
        facts["typing"] = False
    if chat is None or not chat.is_open:
        facts["state"] = (*facts["state"], core.availability(now).reason)  # type: ignore[misc]
    return facts


def console_facts(user: User, chats: list[Chat], now: datetime) -> dict[str, object]:
    facts: dict[str, object] = {"waiting": tuple(c.id for c in core.waiting_chats())}
    for chat in chats:
        facts[f"state-{chat.id}"] = (chat.status.value, chat.agent_id, chat.ticket_id)
        facts[f"typing-{chat.id}"] = core.typing_shown(chat.visitor_typing_at, now) and chat.is_open
    if core.can_take_chats(user):
        row = db.session.get(core.ChatAgent, user.id)
        facts["presence"] = (row.state.value if row else "away", core.is_present(row, now))
    return facts


def compare(facts: dict[str, object], seen: dict[str, object] | None, seen_digest: str) -> list[str]:
    """The keys to (re)send: all of them when the stream knows nothing but a digest that does not match."""
    if seen is None:
        return [] if seen_digest and seen_digest == digest(facts) else list(facts)
    return [key for key, value in facts.items() if seen.get(key, object()) != value]


def console_known(user: User, known: set[int]) -> list[Chat]:
    """The console's panes: the user's active chats now, and the ones it already showed (to send their end)."""
    chats = {c.id: c for c in core.console_chats(user)}
    missing = [i for i in known if i not in chats]
    if missing:
        for chat in db.session.scalars(select(Chat).where(Chat.id.in_(missing))):
            if core.can_take_chats(user) and chat.agent_id != user.id:
                continue  # handed to someone else: not this agent's to follow any more
            chats[chat.id] = chat
    return [chats[i] for i in sorted(chats)]
