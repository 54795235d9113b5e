"""The ``auth`` blueprint: its URL map, in one place (views live in the modules imported here)."""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.auth import notifications, routes

bp = Blueprint("auth", __name__)

bp.add_url_rule("/profile/notifications", view_func=notifications.save_notifications, methods=["POST"])
bp.add_url_rule("/login", view_func=routes.login, methods=["GET", "POST"])
bp.add_url_rule("/logout", view_func=routes.logout, methods=["POST"])
bp.add_url_rule("/signup", view_func=routes.signup, methods=["GET", "POST"])
bp.add_url_rule("/profile", view_func=routes.profile, methods=["GET", "POST"])
bp.add_url_rule("/profile/password", view_func=routes.change_password, methods=["POST"])
bp.add_url_rule("/profile/tokens", view_func=routes.create_token, methods=["POST"])
bp.add_url_rule("/profile/tokens/<int:token_id>/revoke", view_func=routes.revoke_token, methods=["POST"])
