"""The ``oncall`` blueprint: the on-call schedule (/ops/on-call) with its overrides, page acknowledgements (the
signed link, the ticket page's button), the hotline form for an agent who takes the call by hand; and
``hotline_api`` (/api/v1/hotline, signed requests of the telephony provider; CSRF-exempt, no cookies)."""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.oncall import routes

bp = Blueprint("oncall", __name__)
hotline_api = Blueprint("hotline_api", __name__)

bp.add_url_rule("/ops/on-call", view_func=routes.schedule, methods=["GET"])
bp.add_url_rule("/ops/on-call/overrides", view_func=routes.add_override, methods=["POST"])
bp.add_url_rule("/ops/on-call/overrides/<int:override_id>/delete", view_func=routes.remove_override, methods=["POST"])
bp.add_url_rule("/ops/on-call/rotation", view_func=routes.add_rotation, methods=["POST"])
bp.add_url_rule("/ops/hotline/new", view_func=routes.hotline_form, methods=["GET"])
bp.add_url_rule("/ops/hotline", view_func=routes.hotline_file, methods=["POST"])
bp.add_url_rule("/ops/pages/<int:page_id>/ack", view_func=routes.ack_button, methods=["POST"])
bp.add_url_rule("/ops/pages/<int:page_id>/ack/<token>", view_func=routes.ack_link, methods=["GET"])
bp.add_url_rule(
    "/ops/pages/<int:page_id>/ack/<token>",
    view_func=routes.ack_link_confirm,
    methods=["POST"],
    endpoint="ack_link_post",
)
bp.add_app_template_global(routes.ticket_page, "ticket_page")

hotline_api.add_url_rule("/calls", view_func=routes.calls, methods=["POST"])
