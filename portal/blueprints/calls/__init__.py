"""The ``calls`` blueprint: phone calls logged by agents (/agent/calls, and the "Log a call" box of the agent ticket
page). Its URL map, in one place; the views are in ``views``."""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.calls import views

bp = Blueprint("calls", __name__)

bp.add_url_rule("/agent/calls", view_func=views.index, methods=["GET"])
bp.add_url_rule("/agent/calls/new", view_func=views.new, methods=["GET"])
bp.add_url_rule("/agent/calls", endpoint="create", view_func=views.create, methods=["POST"])
bp.add_url_rule("/agent/tickets/<reference>/calls", view_func=views.log_on_ticket, methods=["POST"])
bp.add_app_template_global(views.ticket_calls, "ticket_calls")
bp.add_app_template_global(views.blank_call_form, "blank_call_form")
