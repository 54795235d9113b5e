"""The ``auth`` blueprint: its URL map, in one place (views live in the modules imported here)."""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.auth import login, notifications, routes, security, sessions, signup, tokens

bp = Blueprint("auth", __name__)

# Sign in and out (login.py)
bp.add_url_rule("/login", view_func=login.login, methods=["GET", "POST"])
bp.add_url_rule("/login/two-factor", view_func=login.two_factor_login, methods=["GET", "POST"])
bp.add_url_rule("/logout", view_func=login.logout, methods=["POST"])

# Sign-up, address verification, password reset, email change (signup.py)
bp.add_url_rule("/signup", view_func=signup.signup, methods=["GET", "POST"])
bp.add_url_rule("/verify/resend", view_func=signup.resend_verification, methods=["GET", "POST"])
bp.add_url_rule("/verify/<token>", view_func=signup.verify_email, methods=["GET", "POST"])
bp.add_url_rule("/password/forgot", view_func=signup.forgot_password, methods=["GET", "POST"])
bp.add_url_rule("/password/reset/<token>", view_func=signup.reset_password, methods=["GET", "POST"])
bp.add_url_rule("/profile/email", view_func=signup.request_email_change, methods=["POST"])
bp.add_url_rule("/email/confirm/<token>", view_func=signup.confirm_email_change, methods=["GET", "POST"])

# Profile page (routes.py, notifications.py)
bp.add_url_rule("/profile", view_func=routes.profile, methods=["GET", "POST"])
bp.add_url_rule("/profile/password", view_func=routes.change_password, methods=["POST"])
bp.add_url_rule("/profile/notifications", view_func=notifications.save_notifications, methods=["POST"])

# Two-factor authentication and sessions (security.py)
bp.add_url_rule("/profile/two-factor", view_func=security.two_factor_setup, methods=["GET", "POST"])
bp.add_url_rule("/profile/two-factor/disable", view_func=security.two_factor_disable, methods=["POST"])
bp.add_url_rule("/profile/two-factor/recovery-codes", view_func=security.regenerate_recovery_codes, methods=["POST"])

bp.add_url_rule("/profile/sessions/<int:session_id>/end", view_func=sessions.end_session, methods=["POST"])
bp.add_url_rule("/profile/sessions/end-others", view_func=sessions.end_other_sessions, methods=["POST"])

# API tokens (tokens.py)
bp.add_url_rule("/profile/tokens", view_func=tokens.create_token, methods=["POST"])
bp.add_url_rule("/profile/tokens/<int:token_id>/revoke", view_func=tokens.revoke_token, methods=["POST"])
