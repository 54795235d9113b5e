"""The ``main`` blueprint: its URL map, in one place (views live in the modules imported here)."""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.main import routes

bp = Blueprint("main", __name__)

bp.add_url_rule("/", view_func=routes.index, methods=["GET"])
bp.add_url_rule("/healthz", view_func=routes.healthz, methods=["GET"])
bp.add_url_rule("/favicon.ico", view_func=routes.favicon, methods=["GET"])
