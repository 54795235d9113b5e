"""The profile page's security section: two-factor authentication and active sessions."""

from __future__ import annotations


def profile_context() -> dict:
    """What the profile page's security section needs."""
    return {}
