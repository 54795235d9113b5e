"""Web plumbing shared by every blueprint: sessions, template helpers, response headers."""

from __future__ import annotations

from flask import Flask, request

from portal import templating
from portal.client import REQUEST_ID_HEADER, request_id
from portal.extensions import db, login_manager
from portal.models import User


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    try:
        return db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None


# No inline scripts, handlers, <style> elements or style attributes anywhere (htmx is told not to inject its indicator
# styles; those rules live in app.css); videos only from the two allow-listed privacy-friendly players.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src https://www.youtube-nocookie.com https://player.vimeo.com; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    templating.init_app(app)

    @app.after_request
    def _headers(response):
        response.headers.setdefault(REQUEST_ID_HEADER, request_id())
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if request.blueprint in {"customer", "agent", "admin", "auth"}:
            response.vary.add("HX-Request")
            response.headers.setdefault("Cache-Control", "no-store")
        return response
