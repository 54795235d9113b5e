"""Live chat jobs: the transcript email to the visitor, and the periodic timeouts (idle chats end, unanswered
waiting chats become tickets).

Payload: chat.transcript {chat_id}.
"""

from __future__ import annotations

from typing import Any

from portal.extensions import db
from portal.models import Ticket, utcnow
from portal.models.chat import Chat
from portal.services.chat import core
from portal.services.chat.transcript import transcript_of
from workers.context import job_context
from workers.notify import _email
from workers.registry import handler
from workers.runner import PermanentFailure


@handler("chat.transcript")
def transcript_email(payload: dict[str, Any], message_id: int) -> None:
    """The transcript goes to the visitor's own account address, and only when that address is verified: never to
    an address somebody typed into the chat."""
    chat = db.session.get(Chat, int(payload["chat_id"]))
    if chat is None:
        raise PermanentFailure(f"chat {payload.get('chat_id')} does not exist")
    visitor = chat.visitor
    if visitor is None or not visitor.is_active or not visitor.is_verified:
        return
    ticket = db.session.get(Ticket, chat.ticket_id) if chat.ticket_id else None
    _email(
        message_id,
        "chat.transcript",
        visitor,
        "chat_transcript",
        "Your chat with ESG Support",
        ticket=ticket,
        chat=chat,
        lines=transcript_of(chat),
    )


def chat_timeouts():
    """End chats idle for CHAT_IDLE_MINUTES and turn those nobody accepted in CHAT_WAIT_MINUTES into tickets
    (every 30 s; a chat already ended is left alone, so a second run changes nothing)."""
    with job_context():
        result = core.end_timed_out(utcnow())
        db.session.commit()
        return result
