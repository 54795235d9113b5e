"""The viewer's time zone and timestamps shown in it (instants are stored and computed in UTC)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import g
from flask_login import current_user
from markupsafe import Markup


def viewer_zone() -> ZoneInfo:
    """The viewer's time zone, looked up once per request."""
    zone = g.get("viewer_zone")
    if zone is None:
        name = getattr(current_user, "timezone", None) if current_user and current_user.is_authenticated else None
        try:
            zone = ZoneInfo(name or "UTC")
        except Exception:  # an unknown zone stored earlier must not break a page
            zone = ZoneInfo("UTC")
        g.viewer_zone = zone
    return zone


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> Markup:
    """A ``<time>`` element in the viewer's time zone, with the UTC instant machine-readable."""
    if value is None:
        return Markup("—")
    local = value.astimezone(viewer_zone())
    label = (local.strftime(fmt) + " " + (local.tzname() or "")).strip()
    # Every part is produced by strftime/isoformat from a datetime: no user text, nothing to escape.
    return Markup(f'<time datetime="{value.isoformat()}" title="{value.strftime("%Y-%m-%d %H:%M UTC")}">{label}</time>')
