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


DEFAULT_FORMAT = "%Y-%m-%d %H:%M"


def localtime(value: datetime | None, fmt: str = DEFAULT_FORMAT) -> Markup:
    """A ``<time>`` element in the viewer's time zone, with the UTC instant machine-readable.

    Lists show one per row, so the default format is cut from ``isoformat`` (its first 16 characters are
    ``YYYY-MM-DD HH:MM``), which costs half of ``strftime``; other formats go through ``strftime``."""
    if value is None:
        return Markup("—")
    local = value.astimezone(viewer_zone())
    stamp = value.isoformat()
    shown = local.isoformat(" ", "minutes")[:16] if fmt == DEFAULT_FORMAT else local.strftime(fmt)
    label = f"{shown} {local.tzname() or ''}".strip()
    # Every part is produced by strftime/isoformat from a datetime: no user text, nothing to escape.
    return Markup(f'<time datetime="{stamp}" title="{stamp[:10]} {stamp[11:16]} UTC">{label}</time>')
