"""The ``incidents`` blueprint. Incidents: declare, link tickets, checklists, updates, resolve; post-mortems (managers
and senior agents; admins configure).
"""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.incidents import routes

bp = Blueprint("incidents", __name__)

bp.add_url_rule("", view_func=routes.index, methods=["GET"])
bp.add_url_rule("/new", view_func=routes.new, methods=["GET"])
bp.add_url_rule("", view_func=routes.declare, methods=["POST"], endpoint="declare")
bp.add_url_rule("/templates", view_func=routes.templates, methods=["GET"])
bp.add_url_rule("/templates", view_func=routes.template_add, methods=["POST"], endpoint="template_add")
bp.add_url_rule("/templates/<int:step_id>", view_func=routes.template_edit, methods=["POST"])
bp.add_url_rule("/templates/<int:step_id>/move", view_func=routes.template_move, methods=["POST"])
bp.add_url_rule("/templates/<int:step_id>/delete", view_func=routes.template_delete, methods=["POST"])
bp.add_url_rule("/link", view_func=routes.link_bulk, methods=["POST"])
bp.add_url_rule("/<int:incident_id>", view_func=routes.detail, methods=["GET"])
bp.add_url_rule("/<int:incident_id>/live", view_func=routes.live, methods=["GET"])
bp.add_url_rule("/<int:incident_id>/state", view_func=routes.state, methods=["POST"])
bp.add_url_rule("/<int:incident_id>/commander", view_func=routes.commander, methods=["POST"])
bp.add_url_rule("/<int:incident_id>/updates", view_func=routes.update, methods=["POST"])
bp.add_url_rule("/<int:incident_id>/link", view_func=routes.link, methods=["POST"])
bp.add_url_rule("/<int:incident_id>/tickets/<int:ticket_id>/unlink", view_func=routes.unlink, methods=["POST"])
bp.add_url_rule("/<int:incident_id>/steps/<int:step_id>", view_func=routes.tick, methods=["POST"])
bp.add_url_rule("/<int:incident_id>/steps/<int:step_id>/run", view_func=routes.run_step, methods=["POST"])
bp.add_app_template_global(routes.incident_banner, "incident_banner")
bp.add_app_template_global(routes.ticket_incidents, "ticket_incidents")
bp.add_app_template_global(routes.linkable_incidents, "linkable_incidents")
bp.add_app_template_global(routes.postmortem_url, "incident_postmortem_url")
