"""Sign-in refusals and lockout: unverified addresses, the same answer for unknown and wrong, failures counted per
account (whatever client address they come from) and per client address (a forwarded header counts only from a
trusted proxy), 429 with Retry-After while locked, and one audit row per event."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEntry
from tests.conftest import PASSWORD, csrf_from


def attempt(client, email, password="not-the-password", *, addr="203.0.113.7", forwarded=None, next_path=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    environ = {"REMOTE_ADDR": addr}
    page = client.get("/login", environ_base=environ, headers=headers)
    url = "/login" + (f"?next={next_path}" if next_path else "")
    data = {"email": email, "password": password, "csrf_token": csrf_from(page.text)}
    return client.post(url, data=data, environ_base=environ, headers=headers)


def logout(client, addr="203.0.113.7"):
    environ = {"REMOTE_ADDR": addr}
    token = csrf_from(client.get("/profile", environ_base=environ).text)
    client.post("/logout", data={"csrf_token": token}, environ_base=environ)


def rows(action: str, **filters) -> list[AuditEntry]:
    db.session.rollback()  # see what the requests committed
    query = select(AuditEntry).where(AuditEntry.action == action)
    for name, value in filters.items():
        query = query.where(getattr(AuditEntry, name) == value)
    return db.session.scalars(query.order_by(AuditEntry.id)).all()


@pytest.fixture
def limits(app, monkeypatch):
    def set_limits(account="3 per 15 minutes", address="50 per 15 minutes", proxies=""):
        monkeypatch.setitem(app.config, "LOGIN_FAILURES_PER_ACCOUNT", account)
        monkeypatch.setitem(app.config, "LOGIN_FAILURES_PER_ADDRESS", address)
        monkeypatch.setitem(app.config, "TRUSTED_PROXIES", proxies)

    return set_limits


def test_unverified_account_is_refused_with_the_resend_link(client, make_user):
    user = make_user("customer", email_verified_at=None)
    response = attempt(client, user.email, PASSWORD)
    assert response.status_code == 401
    assert "confirm your email address" in response.text
    assert 'href="/verify/resend"' in response.text
    assert client.get("/portal/").status_code == 302  # not signed in
    [row] = rows("auth.login_failed")
    assert (row.actor_id, row.target_id, row.detail) == (None, str(user.id), "address not verified")
    assert rows("auth.login") == []
    # A wrong password for the same account does not reveal that it is unverified.
    wrong = attempt(client, user.email)
    assert (
        wrong.status_code == 401 and "/verify/resend" not in wrong.text and "Invalid email or password." in wrong.text
    )


def test_unknown_address_and_wrong_password_answer_the_same_and_are_audited(client, make_user):
    user = make_user("customer")
    wrong = attempt(client, user.email)
    unknown = attempt(client, "nobody@example.test")
    assert wrong.status_code == unknown.status_code == 401
    assert "Invalid email or password." in wrong.text and "Invalid email or password." in unknown.text
    first, second = rows("auth.login_failed")
    assert (first.actor_id, first.target_id, first.detail) == (None, str(user.id), "wrong password")
    assert (second.actor_id, second.target_id, second.detail) == (None, None, "unknown address")
    assert second.target_label == "nobody@example.test" and first.ip == "203.0.113.7"
    for row in (first, second):
        assert "not-the-password" not in repr((row.detail, row.before, row.after, row.target_label))


def test_success_is_audited_once_and_next_stays_on_the_site(client, make_user):
    user = make_user("customer")
    response = attempt(client, user.email, PASSWORD, next_path="/portal/tickets")
    assert response.status_code == 302 and response.headers["Location"] == "/portal/tickets"
    [row] = rows("auth.login")
    assert (row.actor_id, row.target_id, row.detail) == (user.id, str(user.id), "password")
    logout(client)
    evil = attempt(client, user.email, PASSWORD, next_path="//evil.example/")
    assert evil.headers["Location"] == "/"


def test_account_is_locked_after_failures_from_rotating_client_addresses(client, make_user, limits):
    limits(account="3 per 15 minutes")
    user = make_user("customer")
    codes = [attempt(client, user.email, addr=f"198.51.100.{n}").status_code for n in range(1, 4)]
    assert codes == [401, 401, 429]  # the third failure starts the lockout
    # From yet another address and with the right password: still locked, and the password is not checked.
    locked = attempt(client, user.email, PASSWORD, addr="198.51.100.200")
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "Too many failed sign-in attempts" in locked.text and "try again in" in locked.text
    assert client.get("/portal/").status_code == 302
    assert rows("auth.login") == []
    assert len(rows("auth.login_failed")) == 3  # attempts while locked are refused before any check
    [locked_row] = rows("auth.locked")
    assert locked_row.target_id == str(user.id) and locked_row.detail.startswith("account")


def test_account_is_locked_across_forwarded_addresses_from_a_trusted_proxy(client, make_user, limits):
    limits(account="3 per 15 minutes", proxies="10.0.0.0/8")
    user = make_user("customer")
    codes = [attempt(client, user.email, addr="10.1.1.1", forwarded=f"192.0.2.{n}").status_code for n in range(1, 5)]
    assert codes == [401, 401, 429, 429]
    failed = rows("auth.login_failed")
    assert [row.ip for row in failed] == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]  # the proxy's client, not the proxy
    assert len(rows("auth.locked")) == 1


def test_unknown_addresses_are_locked_the_same_way(client, make_user, limits):
    limits(account="2 per 15 minutes")
    known = make_user("customer")
    answers = {}
    for email in (known.email, "ghost@example.test"):
        for n in range(3):
            response = attempt(client, email, addr=f"198.51.100.{n + 10}")
        answers[email] = (response.status_code, "Retry-After" in response.headers, response.text.count("Too many"))
    assert answers[known.email] == answers["ghost@example.test"] == (429, True, 1)


def test_forwarded_header_from_an_untrusted_peer_does_not_evade_the_address_limit(client, make_user, limits):
    limits(account="50 per 15 minutes", address="3 per 15 minutes", proxies="10.0.0.0/8")
    users = [make_user("customer") for _ in range(4)]
    codes = [
        attempt(client, u.email, addr="203.0.113.50", forwarded=f"192.0.2.{n}").status_code
        for n, u in enumerate(users, 1)
    ]
    assert codes == [401, 401, 429, 429]  # one client address, whatever it claims to forward for
    assert {row.ip for row in rows("auth.login_failed")} == {"203.0.113.50"}
    [locked_row] = rows("auth.locked")
    assert "client address 203.0.113.50" in locked_row.detail
    # Another client address is not affected.
    assert attempt(client, users[0].email, PASSWORD, addr="203.0.113.51").status_code == 302


def test_success_clears_the_account_count_but_not_the_address_count(client, make_user, limits):
    limits(account="3 per 15 minutes", address="4 per 15 minutes")
    alice, bob = make_user("customer"), make_user("customer")
    addr = "198.51.100.77"
    assert attempt(client, alice.email, addr=addr).status_code == 401
    assert attempt(client, alice.email, addr=addr).status_code == 401
    assert attempt(client, alice.email, PASSWORD, addr=addr).status_code == 302
    logout(client, addr)
    # Alice's count starts again (two more failures are not a lockout) ...
    assert attempt(client, alice.email, addr="198.51.100.78").status_code == 401
    assert attempt(client, alice.email, addr="198.51.100.79").status_code == 401
    # ... but the address keeps its two failures: two more (for Bob) lock it.
    assert attempt(client, bob.email, addr=addr).status_code == 401
    assert attempt(client, bob.email, addr=addr).status_code == 429
    assert len(rows("auth.locked")) == 1


def test_sign_in_starts_a_fresh_session(client, make_user):
    user = make_user("customer")
    with client.session_transaction() as sess:
        sess["planted"] = "by someone else"
    assert attempt(client, user.email, PASSWORD).status_code == 302
    with client.session_transaction() as sess:
        assert "planted" not in sess
