"""The ``ops`` blueprint: its URL map, in one place (views live in the modules imported here)."""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.ops import routes

bp = Blueprint("ops", __name__)

bp.add_url_rule("/roster", view_func=routes.roster_page, methods=["GET"])
bp.add_url_rule("/roster/manage", view_func=routes.manage, methods=["GET"])
bp.add_url_rule("/roster/shifts", view_func=routes.save_shift, methods=["POST"])
bp.add_url_rule("/roster/people/<int:user_id>/away", view_func=routes.set_away, methods=["POST"])
bp.add_url_rule("/roster/time-off", view_func=routes.add_time_off, methods=["POST"])
bp.add_url_rule("/roster/on-call", view_func=routes.add_on_call, methods=["POST"])
bp.add_url_rule("/roster/<kind>/<int:entry_id>/delete", view_func=routes.delete_entry, methods=["POST"])
