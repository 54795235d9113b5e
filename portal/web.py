"""Web plumbing shared by every blueprint: sessions, template helpers, response headers."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, g, request
from flask_login import current_user
from markupsafe import Markup, escape

from portal.extensions import db, login_manager
from portal.models import OPEN_STATUSES, Channel, Priority, Role, Status, Tier, User, format_reference


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    try:
        return db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None


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


# No inline scripts or handlers anywhere; videos only from the two allow-listed privacy-friendly players.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-src https://www.youtube-nocookie.com https://player.vimeo.com; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.filters["reference"] = format_reference
    app.jinja_env.globals.update(
        Status=Status, Priority=Priority, Tier=Tier, Channel=Channel, Role=Role, OPEN_STATUSES=OPEN_STATUSES
    )

    @app.template_filter("nl2br")
    def _nl2br(text: str) -> Markup:
        return Markup("<br>").join(escape(line) for line in (text or "").split("\n"))

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if request.blueprint in {"customer", "agent", "admin", "auth"}:
            response.vary.add("HX-Request")
            response.headers.setdefault("Cache-Control", "no-store")
        return response
