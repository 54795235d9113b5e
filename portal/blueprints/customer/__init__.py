"""The ``customer`` blueprint: its URL map, in one place (views live in the modules imported here)."""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.customer import organization, routes, search, suggest

bp = Blueprint("customer", __name__)

bp.add_url_rule("/", view_func=routes.home, methods=["GET"])
bp.add_url_rule("/tickets/new", view_func=routes.new_ticket, methods=["GET", "POST"])
bp.add_url_rule("/tickets", view_func=routes.tickets, methods=["GET"])
bp.add_url_rule("/tickets/<reference>", view_func=routes.ticket, methods=["GET"])
bp.add_url_rule("/tickets/<reference>/replies", view_func=routes.reply, methods=["POST"])
bp.add_url_rule("/tickets/<reference>/solve", view_func=routes.solve, methods=["POST"])
bp.add_url_rule("/tickets/<reference>/reopen", view_func=routes.reopen, methods=["POST"])
bp.add_url_rule("/search", view_func=search.search, methods=["GET"])
bp.add_url_rule("/tickets/new/suggestions", view_func=suggest.suggestions, methods=["GET"])
bp.add_url_rule("/tickets/new/suggestions/<doc_id>", view_func=suggest.suggestion, methods=["GET"])
bp.add_url_rule("/tickets/new/solved", view_func=suggest.solved_by_suggestion, methods=["POST"])
bp.add_url_rule("/organization/members", view_func=organization.organization_members, methods=["GET"])
bp.add_url_rule("/organization/members/<int:user_id>/approve", view_func=organization.approve_join, methods=["POST"])
bp.add_url_rule("/organization/members/<int:user_id>/refuse", view_func=organization.refuse_join, methods=["POST"])
