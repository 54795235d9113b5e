"""The ``agent`` blueprint: its URL map, in one place (views live in the modules imported here)."""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.agent import routes, search, tickets

bp = Blueprint("agent", __name__)

bp.add_url_rule("/", view_func=routes.index, methods=["GET"])
bp.add_url_rule("/queue", view_func=routes.queue, methods=["GET"])
bp.add_url_rule("/queue/counts", view_func=routes.counts, methods=["GET"])
bp.add_url_rule("/tickets/<reference>", view_func=tickets.ticket, methods=["GET"])
bp.add_url_rule("/tickets/<reference>/timeline", view_func=tickets.timeline, methods=["GET"])
bp.add_url_rule("/tickets/<reference>/fields", view_func=tickets.update_fields, methods=["POST"])
bp.add_url_rule("/tickets/<reference>/replies", view_func=tickets.reply, methods=["POST"])
bp.add_url_rule("/tickets/<reference>/escalate", view_func=tickets.escalate, methods=["POST"])
bp.add_url_rule("/search", view_func=search.search, methods=["GET"])
