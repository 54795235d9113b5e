"""The ``postmortems`` blueprint (/ops/post-mortems): every member of staff reads a resolved incident's post-mortem;
managers and senior agents create, edit, publish it and manage its action items. Its URL map, in one place."""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.postmortems import routes

bp = Blueprint("postmortems", __name__)

bp.add_url_rule("", view_func=routes.index, endpoint="index", methods=["GET"])
bp.add_url_rule("/<int:incident_id>", view_func=routes.page, endpoint="page", methods=["GET"])
bp.add_url_rule("/<int:incident_id>", view_func=routes.create, endpoint="create", methods=["POST"])
bp.add_url_rule("/<int:incident_id>/save", view_func=routes.save, endpoint="save", methods=["POST"])
bp.add_url_rule("/<int:incident_id>/publish", view_func=routes.publish, endpoint="publish", methods=["POST"])
bp.add_url_rule("/<int:incident_id>/actions", view_func=routes.add_action, endpoint="add_action", methods=["POST"])
bp.add_url_rule(
    "/<int:incident_id>/actions/<int:action_id>/ticket",
    view_func=routes.action_ticket,
    endpoint="action_ticket",
    methods=["POST"],
)
bp.add_url_rule(
    "/<int:incident_id>/actions/<int:action_id>/done",
    view_func=routes.action_done,
    endpoint="action_done",
    methods=["POST"],
)
