"""The ``auth`` blueprint: its URL map, in one place (views live in the modules imported here)."""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.auth import login, notifications, routes, security, signup, tokens  # noqa: F401

bp = Blueprint("auth", __name__)

# Sign in and out (login.py)
bp.add_url_rule("/login", view_func=login.login, methods=["GET", "POST"])
bp.add_url_rule("/logout", view_func=login.logout, methods=["POST"])

# Sign-up, address verification, password reset, email change (signup.py)
bp.add_url_rule("/signup", view_func=signup.signup, methods=["GET", "POST"])

# Profile page (routes.py, notifications.py)
bp.add_url_rule("/profile", view_func=routes.profile, methods=["GET", "POST"])
bp.add_url_rule("/profile/password", view_func=routes.change_password, methods=["POST"])
bp.add_url_rule("/profile/notifications", view_func=notifications.save_notifications, methods=["POST"])

# Two-factor authentication and sessions (security.py)

# API tokens (tokens.py)
bp.add_url_rule("/profile/tokens", view_func=tokens.create_token, methods=["POST"])
bp.add_url_rule("/profile/tokens/<int:token_id>/revoke", view_func=tokens.revoke_token, methods=["POST"])
