"""Live chat: the agents' presence and seats, chat sessions and their messages.

A chat is ``waiting`` until an agent accepts it, ``active`` while they talk and ``ended`` for good; when it ends
its transcript becomes a ticket (channel ``chat``) and ``ticket_id`` links the two. Message ids only grow, so the
live streams and the polling fallback read "everything after id N" from the database (any process may serve them).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import User, _enum
from portal.models.base import Base, utcnow


class ChatStatus(str, enum.Enum):
    waiting = "waiting"
    active = "active"
    ended = "ended"


class PresenceState(str, enum.Enum):
    online = "online"
    away = "away"


class ChatAgent(Base):
    """An agent's chat presence: the Online/Away choice, the last heartbeat of an open console tab, and an optional
    seat count of their own (None: ``CHAT_SEATS``)."""

    __tablename__ = "chat_agents"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[PresenceState] = mapped_column(
        _enum(PresenceState, "chat_presence_state"), default=PresenceState.away
    )
    heartbeat_at: Mapped[datetime | None]
    seats: Mapped[int | None]

    user: Mapped[User] = relationship()


class Chat(Base):
    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(primary_key=True)
    visitor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("widget_sites.id", ondelete="SET NULL"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[ChatStatus] = mapped_column(_enum(ChatStatus, "chat_status"), default=ChatStatus.waiting)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # who or what ended it: visitor, agent, idle (no message in time), unanswered (nobody accepted in time)
    ended_reason: Mapped[str | None] = mapped_column(String(20))
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    visitor_typing_at: Mapped[datetime | None]
    agent_typing_at: Mapped[datetime | None]
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))

    visitor: Mapped[User] = relationship(foreign_keys=[visitor_id])
    agent: Mapped[User | None] = relationship(foreign_keys=[agent_id])
    messages: Mapped[list[ChatMessage]] = relationship(
        back_populates="chat", cascade="all, delete-orphan", order_by="ChatMessage.id"
    )

    __table_args__ = (
        Index("ix_chats_status_created_at", "status", "created_at"),
        Index("ix_chats_visitor_id_status", "visitor_id", "status"),
        Index("ix_chats_agent_id_status", "agent_id", "status"),
    )

    @property
    def is_open(self) -> bool:
        return self.status is not ChatStatus.ended


class ChatMessage(Base):
    """One line of a chat: ``kind`` visitor, agent or system (a notice nobody typed; ``author_id`` None)."""

    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(10))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    chat: Mapped[Chat] = relationship(back_populates="messages")
    author: Mapped[User | None] = relationship()

    __table_args__ = (Index("ix_chat_messages_chat_id_id", "chat_id", "id"),)
