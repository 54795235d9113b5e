"""Browser sessions: a fresh random id at sign-in and when the second factor is passed (only its digest stored),
idle timeout and absolute lifetime, sign-out of one other session or everywhere else, the profile's list, and
cookies marked Secure when the portal is reached over HTTPS."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import time_machine
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEntry, User, UserSession
from portal.services import sessions
from tests.conftest import csrf_from, csrf_token, login

T0 = datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
EXPIRED = "Your session expired, please sign in again."


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def sid_of(client) -> str | None:
    with client.session_transaction() as sess:
        return sess.get(sessions.SESSION_KEY)


def rows(user: User) -> list[UserSession]:
    db.session.rollback()  # see what the requests committed
    return db.session.scalars(select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id)).all()


def row_for(sid: str) -> UserSession | None:
    db.session.rollback()
    return db.session.scalar(
        select(UserSession).where(UserSession.sid_digest == hashlib.sha256(sid.encode()).hexdigest())
    )


def signed_in(client) -> bool:
    return client.get("/profile").status_code == 200


def browser(app, agent: str = FIREFOX):
    """Another browser (its own cookies)."""
    other = app.test_client()
    other.environ_base["HTTP_USER_AGENT"] = agent
    return other


def test_sign_in_starts_a_session_with_a_fresh_id_and_sign_out_ends_it(client, make_user):
    user = make_user("customer")
    client.environ_base["HTTP_USER_AGENT"] = FIREFOX + " " + "x" * 400
    client.get("/login")
    with client.session_transaction() as sess:
        sess[sessions.SESSION_KEY] = "planted-by-someone-else"  # session fixation: never adopted
    before = client.get_cookie("session").value
    assert login(client, user).status_code == 302
    first = sid_of(client)
    assert first and first != "planted-by-someone-else" and len(first) >= 40
    assert client.get_cookie("session").value != before
    [row] = rows(user)
    assert row.sid_digest == hashlib.sha256(first.encode()).hexdigest() and first not in row.sid_digest
    assert row.ip == "127.0.0.1" and row.user_agent.startswith(FIREFOX) and len(row.user_agent) == 300
    assert row.revoked_at is None and row.two_factor_at is None
    assert signed_in(client)

    client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert not signed_in(client) and rows(user)[0].revoked_at is not None

    login(client, user)
    second = sid_of(client)
    assert second and second != first
    assert [r.revoked_at is None for r in rows(user)] == [False, True]
    assert row_for(second).id == rows(user)[1].id


def test_passing_the_second_factor_rotates_the_session_id(client, make_user, clock):
    user = make_user("customer")
    login(client, user)
    before = sid_of(client)
    page = client.get("/profile/two-factor")
    db.session.rollback()
    secret = db.session.get(User, user.id).totp_secret
    done = client.post(
        "/profile/two-factor", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_from(page.text)}
    )
    assert done.status_code == 200
    after = sid_of(client)
    assert after and after != before
    [row] = rows(user)  # the same session (it keeps its sign-in time), under a new id
    assert row.two_factor_at == T0 and row_for(before) is None and row_for(after).id == row.id
    assert signed_in(client)

    # Signing in with the second factor starts a session that passed it.
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    clock.shift(60)  # the next time step: a code is accepted once
    login(client, user)
    page = client.get("/login/two-factor")
    client.post("/login/two-factor", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_from(page.text)})
    assert signed_in(client)
    newest = row_for(sid_of(client))
    assert newest.id != row.id and newest.two_factor_at == T0 + timedelta(seconds=60)


def test_an_idle_session_is_signed_out(app, client, make_user, clock):
    idle = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
    user = make_user("agent")
    login(client, user)
    clock.shift(idle - timedelta(minutes=1))
    assert signed_in(client)  # used: the idle time starts again
    clock.shift(idle - timedelta(minutes=1))
    assert signed_in(client)
    clock.shift(idle + timedelta(seconds=1))
    page = client.get("/agent/", follow_redirects=True)
    assert page.request.path == "/login" and EXPIRED in page.text
    assert "Please sign in to continue." not in page.text  # one message, the one that says why
    assert sid_of(client) is None and not signed_in(client)
    assert sessions.SESSION_KEY not in str(client.get_cookie("session"))


def test_a_busy_session_still_ends_after_its_lifetime(app, client, make_user, clock):
    user = make_user("customer")
    login(client, user)
    hours = app.config["SESSION_LIFETIME_HOURS"]
    for _ in range(hours // 2):
        clock.shift(timedelta(hours=2))
        assert signed_in(client)
    clock.shift(timedelta(minutes=1))  # now older than the lifetime although used two hours ago
    page = client.get("/profile", follow_redirects=True)
    assert page.request.path == "/login" and EXPIRED in page.text
    login(client, user)
    assert signed_in(client)  # signing in again starts a new one


def test_last_seen_is_written_at_most_once_a_minute(client, make_user, clock):
    user = make_user("customer")
    login(client, user)
    clock.shift(30)
    assert signed_in(client)
    assert rows(user)[0].last_seen_at == T0
    clock.shift(31)
    assert signed_in(client)
    assert rows(user)[0].last_seen_at == T0 + timedelta(seconds=61)


def test_a_session_without_a_known_id_is_signed_out(client, make_user):
    user = make_user("customer")
    login(client, user)
    with client.session_transaction() as sess:
        del sess[sessions.SESSION_KEY]  # as a session from before session ids existed
    page = client.get("/profile", follow_redirects=True)
    assert page.request.path == "/login" and EXPIRED in page.text

    login(client, user)
    with client.session_transaction() as sess:
        sess[sessions.SESSION_KEY] = "made-up"
    assert not signed_in(client)

    login(client, user)
    row_for(sid_of(client)).revoked_at = T0
    db.session.commit()
    assert not signed_in(client)


def test_sign_out_everywhere_else_ends_the_other_sessions_with_one_audit_row(app, client, make_user):
    user = make_user("customer")
    phone, laptop = browser(app, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Safari/604.1"), browser(app)
    for each in (client, phone, laptop):
        login(each, user)
    someone = make_user("customer")
    elsewhere = browser(app)
    login(elsewhere, someone)

    page = client.get("/profile")
    assert page.text.count("(this session)") == 1 and "Safari on iOS" in page.text and "Firefox on Linux" in page.text
    assert "Sign out everywhere else" in page.text
    done = client.post("/profile/sessions/end-others", data={"csrf_token": csrf_from(page.text)})
    assert done.status_code == 303
    assert "Signed out everywhere else (2 sessions)." in client.get(done.location).text
    assert signed_in(client) and not signed_in(phone) and not signed_in(laptop)
    assert signed_in(elsewhere)  # another account's session is untouched
    [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "auth.logout_all")).all()
    assert entry.actor_id == user.id and entry.target_id == str(user.id) and entry.detail.startswith("2 other sessions")
    assert "Sign out everywhere else" not in client.get("/profile").text  # nothing else left to sign out


def test_one_other_session_is_signed_out_from_the_profile(app, client, make_user):
    user = make_user("customer")
    laptop = browser(app)
    login(client, user)
    login(laptop, user)
    laptop_row = row_for(sid_of(laptop))
    mine = row_for(sid_of(client))
    page = client.get("/profile")
    assert f'action="/profile/sessions/{laptop_row.id}/end"' in page.text
    assert f'action="/profile/sessions/{mine.id}/end"' not in page.text  # this session: the ordinary sign-out

    # Someone else cannot end it.
    intruder = browser(app)
    login(intruder, make_user("customer"))
    refused = intruder.post(f"/profile/sessions/{laptop_row.id}/end", data={"csrf_token": csrf_token(intruder)})
    assert refused.status_code == 404 and signed_in(laptop)
    assert client.post(f"/profile/sessions/{laptop_row.id}/end").status_code == 400  # no CSRF token

    done = client.post(f"/profile/sessions/{laptop_row.id}/end", data={"csrf_token": csrf_from(page.text)})
    assert done.status_code == 303 and "That session is signed out." in client.get(done.location).text
    assert not signed_in(laptop) and signed_in(client)
    assert f"/profile/sessions/{laptop_row.id}/end" not in client.get("/profile").text
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.action == "auth.session_ended"))


def test_profile_lists_sessions_in_the_viewers_zone(client, make_user, clock):
    user = make_user("customer", timezone="Asia/Tokyo")
    client.environ_base["HTTP_USER_AGENT"] = FIREFOX
    login(client, user)
    clock.shift(timedelta(minutes=5))
    page = client.get("/profile").text
    section = page[page.index('id="sessions-h"') :]
    assert "Firefox on Linux" in section and "127.0.0.1" in section and "(this session)" in section
    assert "2026-03-02 18:00 JST" in section and "2026-03-02 18:05 JST" in section  # signed in, last seen


def test_end_all_can_spare_this_browser_for_a_password_change(app, client, make_user):
    user = make_user("customer")
    other = browser(app)
    login(client, user)
    login(other, user)
    keep = sid_of(client)
    with app.test_request_context("/"):
        from flask import session

        session[sessions.SESSION_KEY] = keep
        assert sessions.end_all(user, except_current=True, reason="password changed") == 1
        db.session.commit()
    assert signed_in(client) and not signed_in(other)
    with app.test_request_context("/"):
        assert sessions.end_all(user) == 1
        db.session.commit()
    assert not signed_in(client)


@pytest.mark.parametrize(
    ("base_url", "headers", "trusted", "secure"),
    [
        ("http://localhost", {}, "", False),
        ("https://localhost", {}, "", True),
        ("http://localhost", {"X-Forwarded-Proto": "https"}, "", False),  # anyone may send the header
        ("http://localhost", {"X-Forwarded-Proto": "https"}, "127.0.0.1", True),  # our proxy says so
        ("http://localhost", {"X-Forwarded-Proto": "https, http"}, "127.0.0.0/8", False),  # the nearest hop counts
    ],
)
def test_cookies_are_secure_over_https(app, client, make_user, monkeypatch, base_url, headers, trusted, secure):
    monkeypatch.setitem(app.config, "TRUSTED_PROXIES", trusted)
    page = client.get("/login", base_url=base_url, headers=headers)
    [cookie] = page.headers.getlist("Set-Cookie")
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=lax" in flags
    assert ("secure" in flags) is secure
