"""The widget session: what a widget frame carries instead of a cookie.

A site's page signs its user (JWT or HMAC, ``portal.services.widget.identity``); the widget frame exchanges that
for a short-lived widget session token naming the site and the user. Third-party cookies are not needed (browsers
block them in frames on other sites): the frame sends the token in the ``X-Widget-Session`` header of every htmx
request, and in the ``ws`` query parameter where a header cannot be set (an EventSource stream, a download link).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, has_request_context, request
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer

from portal.extensions import db
from portal.models import User

HEADER = "X-Widget-Session"
PARAM = "ws"
_SALT = "widget-session"


@dataclass(frozen=True)
class WidgetIdentity:
    site_id: int
    user: User
    verified: bool  # signed by the site (always True for a session issued in verified-only mode)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def issue(site_id: int, user_id: int, *, verified: bool) -> str:
    return _serializer().dumps({"s": site_id, "u": user_id, "v": bool(verified)})


def resolve(token: str | None) -> WidgetIdentity | None:
    """The identity a token names, or None when it is missing, forged, expired, or its site or user is gone or
    inactive."""
    if not token or len(token) > 2000:
        return None
    try:
        data = _serializer().loads(token, max_age=current_app.config["WIDGET_SESSION_SECONDS"])
        site_id, user_id, verified = int(data["s"]), int(data["u"]), bool(data["v"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    from portal.models.widget import WidgetSite

    site = db.session.get(WidgetSite, site_id)
    user = db.session.get(User, user_id)
    if site is None or not site.is_active or user is None or not user.is_active or not user.is_customer:
        return None
    return WidgetIdentity(site_id=site.id, user=user, verified=verified)


def from_request() -> WidgetIdentity | None:
    """The widget identity of this request (header first, then the ``ws`` parameter)."""
    if not has_request_context():
        return None
    return resolve(request.headers.get(HEADER) or request.values.get(PARAM))


def visitor() -> tuple[User, int | None] | None:
    """Who is asking, for pages the widget and the portal share (chat, KB suggestions): the widget session's user
    and site, else a signed-in customer of the portal (site None), else None."""
    identity = from_request()
    if identity is not None:
        return identity.user, identity.site_id
    if current_user.is_authenticated and current_user.is_customer:
        return current_user._get_current_object(), None
    return None
