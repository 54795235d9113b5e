"""Browser sessions (``user_sessions``): started at sign-in with a fresh random id in the session cookie, rotated
on a privilege change (passing the second factor), checked on every request (idle timeout, absolute lifetime,
revocation), listed on the profile page, ended one by one or everywhere.

Interface used by the sign-in flow:

    sessions.start(user, two_factor=False)   # after login_user(): a new session row and cookie id (rotation)
    sessions.passed_two_factor()              # the current session passed the second factor: rotate, mark it
    sessions.current()                        # the current UserSession row, or None
    sessions.end_current()                    # sign-out
    sessions.end_all(user, except_current=False)

The signed Flask session cookie carries the plain id (``SESSION_KEY``); the table keeps only its SHA-256 digest, so
a copy of the table signs nobody in. ``check(user)`` runs in the Flask-Login user loader (``portal.web``): a
session without an id, with an unknown, revoked, idle or too old one is no longer signed in (``forget()``).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app, flash, g, has_request_context, request, session
from sqlalchemy import select

from portal.client import client_ip
from portal.extensions import db
from portal.models import User, UserSession, utcnow
from portal.services import audit
from portal.services.errors import NotFound

SESSION_KEY = "_sid"  # the plain session id in the (signed) Flask session
SEEN_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often (not a write per request)
USER_AGENT_LENGTH = 300
EXPIRED_MESSAGE = "Your session expired, please sign in again."
_CACHE = "_user_session"  # g: this request's UserSession row


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def idle_timeout() -> timedelta:
    return timedelta(minutes=int(current_app.config["SESSION_IDLE_MINUTES"]))


def lifetime() -> timedelta:
    return timedelta(hours=int(current_app.config["SESSION_LIFETIME_HOURS"]))


def is_live(row: UserSession, now: datetime | None = None) -> bool:
    """Not revoked, used within the idle timeout, younger than the absolute lifetime."""
    now = now or utcnow()
    return row.revoked_at is None and now - row.last_seen_at <= idle_timeout() and now - row.created_at <= lifetime()


def _new_id() -> tuple[str, str]:
    sid = secrets.token_urlsafe(32)
    return sid, _digest(sid)


def _row_for(sid) -> UserSession | None:
    if not isinstance(sid, str) or not sid:
        return None
    return db.session.scalar(select(UserSession).where(UserSession.sid_digest == _digest(sid)))


def current() -> UserSession | None:
    """This browser's session row (whatever its state), or None outside a request or without one."""
    if not has_request_context():
        return None
    if _CACHE not in g:
        setattr(g, _CACHE, _row_for(session.get(SESSION_KEY)))
    return g.get(_CACHE)


def start(user: User, two_factor: bool = False) -> UserSession:
    """A new session for ``user`` in this browser, with a fresh random id (a session id from before the sign-in,
    if any, ends: the id always rotates at sign-in). Call right after ``login_user``."""
    now = utcnow()
    old = current()
    if old is not None and old.revoked_at is None:
        old.revoked_at = now
    sid, digest = _new_id()
    agent = (request.user_agent.string or "").strip()[:USER_AGENT_LENGTH] if has_request_context() else ""
    row = UserSession(
        user_id=user.id,
        sid_digest=digest,
        created_at=now,
        last_seen_at=now,
        two_factor_at=now if two_factor else None,
        ip=client_ip()[:45] or None,
        user_agent=agent or None,
    )
    db.session.add(row)
    db.session.flush()
    session[SESSION_KEY] = sid
    setattr(g, _CACHE, row)
    return row


def passed_two_factor() -> UserSession | None:
    """The current session passed the second factor (a privilege change): a new id, and the time it passed."""
    row = current()
    if row is None:
        return None
    sid, row.sid_digest = _new_id()
    row.two_factor_at = utcnow()
    db.session.flush()
    session[SESSION_KEY] = sid
    return row


def end_current() -> None:
    """Sign-out: this browser's session row is revoked and its id forgotten."""
    row = current()
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.flush()
    if has_request_context():
        session.pop(SESSION_KEY, None)


def active_for(user: User) -> list[UserSession]:
    """The user's live sessions, most recently used first."""
    now = utcnow()
    rows = db.session.scalars(
        select(UserSession)
        .where(
            UserSession.user_id == user.id,
            UserSession.revoked_at.is_(None),
            UserSession.last_seen_at >= now - idle_timeout(),
            UserSession.created_at >= now - lifetime(),
        )
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    ).all()
    return [row for row in rows if is_live(row, now)]


def end_all(user: User, except_current: bool = False, *, reason: str | None = None) -> int:
    """Sign ``user`` out everywhere (or everywhere but this browser): every live session is revoked. One audit
    row (``auth.logout_all``) says how many ended and why. Returns that number."""
    now = utcnow()
    keep = current() if except_current else None
    ended = 0
    for row in db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    ):
        if keep is not None and row.id == keep.id:
            continue
        if is_live(row, now):
            ended += 1
        row.revoked_at = now
    what = ("other " if except_current else "") + ("session" if ended == 1 else "sessions")
    if ended or reason is None:  # a person's "sign out everywhere" always; a side effect only when it ended some
        audit.record(
            "auth.logout_all", target=user, detail=f"{ended} {what} ended" + (f" ({reason})" if reason else "")
        )
    db.session.flush()
    return ended


def end_one(user: User, session_id: int) -> UserSession:
    """Sign one of ``user``'s sessions out (another browser or device). Someone else's session is "not found"."""
    row = db.session.get(UserSession, session_id)
    if row is None or row.user_id != user.id:
        raise NotFound("No such session.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            "auth.session_ended",
            target=user,
            detail=f"session {row.id} from {row.ip or 'an unknown address'} signed out",
        )
        db.session.flush()
    return row


def check(user: User) -> bool:
    """Whether this request's session may stay signed in as ``user``: its id is known, belongs to ``user``, is not
    revoked, idle or past its lifetime. ``last_seen_at`` is refreshed, at most once a ``SEEN_EVERY``."""
    row = current()
    if row is None or row.user_id != user.id:
        return False
    now = utcnow()
    if not is_live(row, now):
        return False
    if now - row.last_seen_at >= SEEN_EVERY:
        row.last_seen_at = now  # committed with the request (portal.database)
    return True


def forget() -> None:
    """This browser is no longer signed in (``check`` failed): the Flask session is emptied (as sign-out does),
    a remember-me cookie is not honoured any more, and the next page says why."""
    remember_cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    session.clear()
    if remember_cookie in request.cookies:
        session["_remember"] = "clear"  # Flask-Login: ignore and delete the remember-me cookie
    g.session_expired = True
    g.pop(_CACHE, None)
    flash(EXPIRED_MESSAGE, "info")


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (
    ("Windows", "Windows"),
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def describe_agent(user_agent: str | None) -> str:
    """A short, readable name for a browser ("Firefox on Linux"); "Unknown browser" when it says nothing useful."""
    agent = user_agent or ""
    browser = next((name for marker, name in _BROWSERS if marker in agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or (agent[:40] if agent else "Unknown browser")
