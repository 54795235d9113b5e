"""Who calls the JSON API: the bearer token (looked up once per request), its state and its scope.

A token that is unknown, revoked, expired or whose account is inactive is a 401; a read-only token asking for
anything but GET or HEAD is a 403 ``insufficient_scope``."""

from __future__ import annotations

from flask import g, request

from portal.errors import json_error
from portal.models import ApiToken, TokenScope
from portal.services import accounts

SAFE_METHODS = frozenset({"GET", "HEAD"})  # all a read-only token may do
_CACHE = "_api_token"
_MESSAGES = {
    "revoked": "This token was revoked; create a new one on your profile page.",
    "expired": "This token has expired; create a new one on your profile page.",
}
_INVALID = "Send a valid token: Authorization: Bearer <token>."


def bearer_text() -> str | None:
    """The token in ``Authorization: Bearer <token>``, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def request_token() -> ApiToken | None:
    """The token row this request's bearer token names (in any state), looked up once per request."""
    if _CACHE not in g:
        setattr(g, _CACHE, accounts.find_api_token(bearer_text()))
    return g.get(_CACHE)


def usable_token() -> ApiToken | None:
    token = request_token()
    return token if accounts.api_token_problem(token) is None else None


def check_token():
    """None when the request's token may make this request (``g.api_user`` is then its user), else the error
    response: 401 for a missing, unknown, revoked or expired token, 403 for a read-only token that tries to write."""
    token = request_token()
    problem = accounts.api_token_problem(token)
    if problem is not None:
        response, status = json_error(401, "unauthorized", _MESSAGES.get(problem, _INVALID))
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"' + (
            ', error="invalid_token"' if problem in _MESSAGES else ""
        )
        return response, status
    if token.scope != TokenScope.write.value and request.method not in SAFE_METHODS:
        response, status = json_error(
            403, "insufficient_scope", "This token may only read (GET); a read and write token is needed for this."
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="api", error="insufficient_scope", scope="write"'
        return response, status
    accounts.touch_api_token(token)
    g.api_user = token.user
    return None
