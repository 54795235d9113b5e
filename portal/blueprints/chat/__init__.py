"""The ``chat`` blueprint: the visitor side (/chat, and its panel inside the widget frame) and the agent console
(/agent/chat). Each side has one live stream per tab and a polling fallback."""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.chat import console, visitor
from portal.extensions import limiter

bp = Blueprint("chat", __name__)

# visitors: signed-in customers, or a widget session (header, or ``ws`` for the stream)
_limited = limiter.limit(visitor._rate_limit, methods=["POST"])
bp.add_url_rule("/chat", view_func=visitor.page, methods=["GET"], endpoint="visitor")
bp.add_url_rule("/chat/panel", view_func=visitor.panel, methods=["GET"], endpoint="panel")
bp.add_url_rule("/chat/start", view_func=_limited(visitor.start), methods=["POST"], endpoint="start")
bp.add_url_rule("/chat/<int:chat_id>/messages", view_func=_limited(visitor.send), methods=["POST"], endpoint="send")
bp.add_url_rule("/chat/<int:chat_id>/typing", view_func=visitor.typing, methods=["POST"], endpoint="typing")
bp.add_url_rule("/chat/<int:chat_id>/end", view_func=visitor.end, methods=["POST"], endpoint="end")
bp.add_url_rule("/chat/stream", view_func=visitor.stream, methods=["GET"], endpoint="stream")
bp.add_url_rule("/chat/poll", view_func=visitor.poll, methods=["GET"], endpoint="poll")

# the console: agents and senior agents take chats, managers watch
bp.add_url_rule("/agent/chat", view_func=console.page, methods=["GET"], endpoint="console")
bp.add_url_rule("/agent/chat/presence", view_func=console.presence, methods=["POST"], endpoint="presence")
bp.add_url_rule("/agent/chat/stream", view_func=console.stream, methods=["GET"], endpoint="console_stream")
bp.add_url_rule("/agent/chat/poll", view_func=console.poll, methods=["GET"], endpoint="console_poll")
bp.add_url_rule("/agent/chat/<int:chat_id>/accept", view_func=console.accept, methods=["POST"], endpoint="accept")
bp.add_url_rule("/agent/chat/<int:chat_id>/messages", view_func=console.send, methods=["POST"], endpoint="console_send")
bp.add_url_rule(
    "/agent/chat/<int:chat_id>/typing", view_func=console.typing, methods=["POST"], endpoint="console_typing"
)
bp.add_url_rule("/agent/chat/<int:chat_id>/end", view_func=console.end, methods=["POST"], endpoint="console_end")
bp.add_url_rule("/agent/chat/<int:chat_id>/transfer", view_func=console.transfer, methods=["POST"], endpoint="transfer")
