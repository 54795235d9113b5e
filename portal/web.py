"""Web plumbing shared by every blueprint: sessions, template helpers, response headers."""

from __future__ import annotations

from flask import Flask, flash, g, redirect, request, request_finished
from flask_login import login_url

from portal import templating
from portal.client import REQUEST_ID_HEADER, is_trusted_proxy, request_id
from portal.extensions import db, login_manager
from portal.models import User
from portal.services import sessions


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    try:
        user = db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        user = None
    # The browser session must still be live (portal.services.sessions): else signed out, an anonymous request.
    if user is None or not sessions.check(user):
        sessions.forget()
        return None
    return user


@login_manager.unauthorized_handler
def _sign_in_first():
    """A page that needs a signed-in user: to the sign-in page, and back afterwards. An expired session has
    already said so (``sessions.forget``); otherwise the usual "please sign in"."""
    if not g.get("session_expired"):
        flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(login_url(login_manager.login_view, next_url=request.url))


def served_over_https() -> bool:
    """This request reached us over HTTPS: directly, or through a trusted proxy (TRUSTED_PROXIES) that says so in
    ``X-Forwarded-Proto`` (the last value, the one the nearest proxy set). Anyone else's header is ignored."""
    if request.is_secure:
        return True
    if not is_trusted_proxy(request.remote_addr or ""):
        return False
    protos = [p.strip().lower() for p in request.headers.get("X-Forwarded-Proto", "").split(",") if p.strip()]
    return bool(protos) and protos[-1] == "https"


def _secure_cookies(_app, response, **_extra) -> None:
    """Served over HTTPS: every cookie set (the session, remember-me) gets the ``Secure`` flag. Done when the
    response is finished, after Flask and Flask-Login wrote their cookies."""
    cookies = response.headers.getlist("Set-Cookie")
    if not cookies or not served_over_https():
        return
    response.headers.remove("Set-Cookie")
    for cookie in cookies:
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        response.headers.add("Set-Cookie", cookie if "secure" in flags else cookie + "; Secure")


# No inline scripts, handlers, <style> elements or style attributes anywhere (htmx is told not to inject its indicator
# styles; those rules live in app.css); videos only from the two allow-listed privacy-friendly players.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src https://www.youtube-nocookie.com https://player.vimeo.com; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# No page uses these browser features; a script injected anyway cannot ask for them.
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    request_finished.connect(_secure_cookies, app)

    templating.init_app(app)

    from portal.blueprints.auth import security

    security.init_app(app)  # the two-factor enrolment gate

    @app.after_request
    def _headers(response):
        response.headers.setdefault(REQUEST_ID_HEADER, request_id())
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if served_over_https():  # only over HTTPS: a browser ignores it on plain HTTP, and local runs stay usable
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.blueprint in {"customer", "agent", "admin", "auth"}:
            response.vary.add("HX-Request")
            response.headers.setdefault("Cache-Control", "no-store")
        return response
