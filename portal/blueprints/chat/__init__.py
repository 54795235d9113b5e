"""The ``chat`` blueprint: the visitor side (/chat, also inside the widget frame) and the agent console
(/agent/chat). (Being built: the routes below are placeholders.)"""

from __future__ import annotations

from flask import Blueprint, abort

bp = Blueprint("chat", __name__)


@bp.get("/chat")
def visitor():
    abort(404)


@bp.get("/agent/chat")
def console():
    abort(404)
