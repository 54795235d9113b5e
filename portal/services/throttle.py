"""Throttles for the account flows: failed sign-ins per account and per client address, second-factor codes,
password-reset and sign-up requests, verification resends.

Counts live in the rate-limit store (Redis when configured, so every process shares them; in memory on the
embedded default). A Redis outage falls back to an in-process store rather than failing the request.

    blocked = throttle.retry_after("login_account", email)   # seconds until allowed again, or None
    throttle.hit("login_account", email)                      # count one attempt (False when over the limit)
    throttle.clear("login_account", email)                    # e.g. after a successful sign-in
"""

from __future__ import annotations

import math
import time

from flask import current_app
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

# Each kind of throttle and the setting holding its limit ("5 per 15 minutes").
LIMITS = {
    "login_account": "LOGIN_FAILURES_PER_ACCOUNT",
    "login_address": "LOGIN_FAILURES_PER_ADDRESS",
    "two_factor": "TWO_FACTOR_FAILURES_PER_ACCOUNT",
    "signup_address": "SIGNUP_RATE_LIMIT",
    "reset_account": "RESET_RATE_LIMIT",
    "reset_address": "RESET_RATE_LIMIT",
    "verify_resend": "VERIFY_RESEND_RATE_LIMIT",
}
_EXTENSION = "portal_throttle"


class _State:
    def __init__(self, uri: str, options: dict):
        self.fallback = MemoryStorage()
        try:
            self.storage: Storage = storage_from_string(uri, **(options if not uri.startswith("memory") else {}))
        except Exception:  # an unusable URI must not take sign-in down
            current_app.logger.exception("throttle storage %s unusable; counting in memory", uri)
            self.storage = self.fallback
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.fallback_limiter = MovingWindowRateLimiter(self.fallback)


def _state() -> _State:
    state = current_app.extensions.get(_EXTENSION)
    if state is None:
        config = current_app.config
        state = _State(config.get("RATELIMIT_STORAGE_URI") or "memory://", config.get("RATELIMIT_STORAGE_OPTIONS", {}))
        current_app.extensions[_EXTENSION] = state
    return state


def _item(kind: str) -> RateLimitItem:
    return parse(current_app.config[LIMITS[kind]])


def _key(key: str) -> str:
    return (key or "").strip().lower()[:300]


def _call(method: str, *args):
    state = _state()
    try:
        return getattr(state.limiter, method)(*args)
    except Exception:  # Redis down: keep counting in this process
        current_app.logger.warning("throttle storage unavailable; counting in memory", exc_info=True)
        return getattr(state.fallback_limiter, method)(*args)


def hit(kind: str, key: str) -> bool:
    """Count one attempt; False when this attempt is over the limit."""
    return bool(_call("hit", _item(kind), kind, _key(key)))


def retry_after(kind: str, key: str) -> int | None:
    """Seconds until the next attempt is allowed, or None when it is allowed now."""
    item = _item(kind)
    if _call("test", item, kind, _key(key)):
        return None
    stats = _call("get_window_stats", item, kind, _key(key))
    return max(1, math.ceil(stats.reset_time - time.time()))


def clear(kind: str, key: str) -> None:
    _call("clear", _item(kind), kind, _key(key))


def reset_all() -> None:
    """Forget every count (tests; an admin unlocking everyone)."""
    state = _state()
    for storage in (state.storage, state.fallback):
        try:
            storage.reset()
        except Exception:
            current_app.logger.warning("throttle storage reset failed", exc_info=True)
