"""The ``api`` blueprint: its URL map, in one place (views live in the modules imported here)."""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.api import kb, limits, reports, routes

bp = Blueprint("api", __name__)
bp.register_error_handler(routes.Conflict, routes.conflict)
limits.init_blueprint(bp)  # API_RATE_LIMIT per token (or client address), RateLimit-* headers

bp.add_url_rule("/kb/search", view_func=kb.kb_search, methods=["GET"])
bp.add_url_rule("/kb/suggest", view_func=kb.kb_suggest, methods=["GET"])
bp.add_url_rule("/tickets", view_func=routes.create_ticket, methods=["POST"])
bp.add_url_rule("/tickets", view_func=routes.list_tickets_, methods=["GET"])
bp.add_url_rule("/tickets/<reference>", view_func=routes.get_ticket, methods=["GET"])
bp.add_url_rule("/tickets/<reference>/replies", view_func=routes.reply, methods=["POST"])
bp.add_url_rule("/tickets/<reference>", view_func=routes.update_ticket, methods=["PATCH"])
bp.add_url_rule("/tickets/<reference>/attachments", view_func=routes.list_attachments, methods=["GET"])
bp.add_url_rule("/attachments/<token>", view_func=routes.download_attachment, methods=["GET"])
bp.add_url_rule("/reports/summary", view_func=reports.summary, methods=["GET"])
bp.add_url_rule("/reports/agents", view_func=reports.agents, methods=["GET"])
bp.add_url_rule("/reports/tickets", view_func=reports.tickets, methods=["GET"])
bp.add_url_rule("/reports/summary.csv", view_func=reports.summary_csv, methods=["GET"])
bp.add_url_rule("/reports/violations.csv", view_func=reports.violations_csv, methods=["GET"])
bp.add_url_rule("/reports/agents.csv", view_func=reports.agents_csv, methods=["GET"])
bp.add_url_rule("/reports/tickets.csv", view_func=reports.tickets_csv, methods=["GET"])
