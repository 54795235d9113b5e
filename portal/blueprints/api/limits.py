"""Rate limits of the JSON API: API_RATE_LIMIT requests per token (one budget shared by every endpoint), or per
client address for calls without a usable token. Every limited answer carries ``RateLimit-Limit``,
``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds until the window resets); over the limit it is a 429 with
``Retry-After`` and the API's JSON error ``rate_limited`` (portal.errors)."""

from __future__ import annotations

import math
import time

from flask import Blueprint, current_app

from portal.blueprints.api.auth import usable_token
from portal.client import client_ip
from portal.extensions import limiter


def api_rate_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


def rate_key() -> str:
    """Per token (its id: a valid token always counts against its own budget); otherwise per client address, so
    made-up tokens cannot buy a fresh budget each."""
    token = usable_token()
    return f"token:{token.id}" if token is not None else f"address:{client_ip()}"


def _message() -> str:
    return f"Too many requests (at most {api_rate_limit()}); wait for the time in Retry-After and try again."


def _headers(response):
    current = limiter.current_limit
    if current is None:
        return response
    try:
        reset = max(0, math.ceil(current.window[0] - time.time()))  # seconds until the window resets
        response.headers["RateLimit-Limit"] = str(current.limit.amount)
        response.headers["RateLimit-Remaining"] = str(max(0, current.remaining))
        response.headers["RateLimit-Reset"] = str(reset)
        if response.status_code == 429:
            response.headers["Retry-After"] = str(max(1, reset))
    except Exception:  # the limit store failed while reading the window: the answer goes out without the headers
        current_app.logger.warning("rate limit headers unavailable", exc_info=True)
    return response


def init_blueprint(bp: Blueprint) -> None:
    limiter.shared_limit(api_rate_limit, scope="api", key_func=rate_key, error_message=_message)(bp)
    bp.after_request(_headers)
