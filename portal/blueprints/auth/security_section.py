"""The profile page's security section: two-factor authentication and active sessions."""

from __future__ import annotations

from flask_login import current_user

from portal.blueprints.auth.forms import RecoveryCodesForm, TwoFactorDisableForm
from portal.services import sessions, twofactor


def profile_context() -> dict:
    """What the profile page's security section needs."""
    return {
        # Two-factor authentication (security.py); forms with errors come back through render_profile(**sections).
        "two_factor_enabled": current_user.has_two_factor,
        "two_factor_required": twofactor.is_required(current_user),
        "recovery_codes_left": twofactor.recovery_codes_left(current_user) if current_user.has_two_factor else 0,
        "two_factor_disable_form": TwoFactorDisableForm(),
        "recovery_codes_form": RecoveryCodesForm(),
        # Active sessions (sessions.py): this browser's row is marked in the list.
        "user_sessions": sessions.active_for(current_user),
        "current_session_id": getattr(sessions.current(), "id", None),
        "describe_agent": sessions.describe_agent,
    }
