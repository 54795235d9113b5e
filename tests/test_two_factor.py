"""Two-factor authentication: enrolment (secret, QR code, recovery codes shown once), the second step at sign-in
(codes never accepted twice, recovery codes once, wrong codes throttled), turning it off, new recovery codes, an
admin's reset, and the gate that keeps a role requiring it out of every page until it is set up."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
import pytest
import time_machine
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEntry, RecoveryCode, Role, User
from portal.services import accounts, twofactor
from tests.conftest import PASSWORD, csrf_from, csrf_token, login

T0 = datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC)
RECOVERY_RE = re.compile(r"<code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code>")


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def required(app, monkeypatch):
    monkeypatch.setitem(app.config, "TWO_FACTOR_REQUIRED_ROLES", "manager,admin")


def rows(action: str) -> list[AuditEntry]:
    db.session.rollback()
    return db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


def fresh(user: User) -> User:
    db.session.rollback()
    return db.session.get(User, user.id)


def enrol(user: User) -> tuple[str, list[str]]:
    """Turn two-factor on directly (at the current, frozen time); returns the secret and the recovery codes."""
    secret = twofactor.pending_secret(user)
    codes = twofactor.enable(user, pyotp.TOTP(secret).now())
    db.session.commit()
    return secret, codes


def second_step(client, code):
    page = client.get("/login/two-factor")
    return client.post("/login/two-factor", data={"code": code, "csrf_token": csrf_from(page.text)})


def signed_in(client) -> bool:
    return client.get("/profile").status_code == 200


def sign_out(client):
    client.post("/logout", data={"csrf_token": csrf_token(client)})


def test_enrolment_shows_the_secret_and_a_qr_code_then_recovery_codes_once(client, make_user, clock):
    user = make_user("customer")
    login(client, user)
    page = client.get("/profile/two-factor")
    assert page.status_code == 200
    secret = fresh(user).totp_secret
    assert secret and fresh(user).totp_enabled_at is None  # pending until confirmed
    assert twofactor.grouped(secret) in page.text
    assert re.search(r'<img [^>]*src="data:image/svg\+xml[^"]+"[^>]*alt="QR code', page.text)
    assert "<script>" not in page.text and "style=" not in page.text
    assert client.get("/profile/two-factor").text.count(twofactor.grouped(secret)) == 1  # same secret on reload

    token = csrf_from(page.text)
    wrong = client.post("/profile/two-factor", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 422 and "not valid" in wrong.text
    assert not fresh(user).has_two_factor

    done = client.post("/profile/two-factor", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert done.status_code == 200
    codes = RECOVERY_RE.findall(done.text)
    assert len(codes) == len(set(codes)) == 10
    user = fresh(user)
    assert user.has_two_factor and user.totp_last_step == pyotp.TOTP(secret).timecode(T0)
    stored = db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
    assert len(stored) == 10 and all(c.code_hash.startswith("scrypt:") for c in stored)
    assert not any(code.replace("-", "") in c.code_hash for code in codes for c in stored)
    assert len(rows("two_factor.enabled")) == 1
    # Shown once: the profile page only counts them, the enrolment page now goes back to the profile.
    profile = client.get("/profile")
    assert "10 unused recovery codes" in profile.text and codes[0] not in profile.text
    assert client.get("/profile/two-factor").status_code == 302


def test_sign_in_asks_for_a_code_and_refuses_a_reused_one(client, make_user, clock):
    user = make_user("customer")
    secret, _codes = enrol(user)
    totp = pyotp.TOTP(secret)
    step1 = login(client, user)
    assert step1.status_code == 302 and step1.headers["Location"] == "/login/two-factor"
    assert not signed_in(client)  # the password alone is not a sign-in
    assert rows("auth.login") == []

    # The code that confirmed the enrolment is spent: refused, even within its 30 seconds.
    reused = second_step(client, totp.now())
    assert reused.status_code == 401 and "not valid" in reused.text
    [failed] = rows("auth.two_factor_failed")
    assert (failed.actor_id, failed.target_id, failed.detail) == (None, str(user.id), "code already used")

    clock.shift(30)
    ok = second_step(client, totp.now())
    assert ok.status_code == 302 and ok.headers["Location"] == "/"
    assert signed_in(client)
    [row] = rows("auth.login")
    assert row.detail == "password and authenticator code"

    sign_out(client)
    login(client, user)
    assert second_step(client, totp.now()).status_code == 401  # the same code again, same step: refused
    assert second_step(client, totp.at(T0.timestamp() - 30)).status_code == 401  # an older one too
    assert not signed_in(client)
    clock.shift(30)
    assert second_step(client, totp.now()).status_code == 302


def test_reuse_is_refused_even_for_a_code_of_the_next_step(make_user, clock):
    user = make_user("customer")
    secret, _ = enrol(user)
    totp = pyotp.TOTP(secret)
    ahead = totp.at(T0.timestamp() + 30)  # accepted one step early (clock drift) ...
    assert twofactor.verify_code(user, ahead)
    clock.shift(30)
    assert not twofactor.verify_code(user, totp.now())  # ... so it cannot be used again in its own step
    assert not twofactor.verify_code(user, "12345") and not twofactor.verify_code(user, None)


def test_a_recovery_code_works_once(client, make_user, clock):
    user = make_user("customer")
    _secret, codes = enrol(user)
    login(client, user)
    ok = second_step(client, codes[3].upper().replace("-", " "))  # forgiving about case and separators
    assert ok.status_code == 302 and signed_in(client)
    assert "9 left" in client.get("/profile").text or "9 unused recovery codes" in client.get("/profile").text
    [used] = rows("two_factor.recovery_used")
    assert used.target_id == str(user.id)
    assert rows("auth.login")[-1].detail == "password and recovery code"
    sign_out(client)

    login(client, user)
    again = second_step(client, codes[3])
    assert again.status_code == 401 and not signed_in(client)
    assert len(rows("two_factor.recovery_used")) == 1
    assert rows("auth.two_factor_failed")[-1].detail == "wrong code"
    assert db.session.scalar(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None))) is not None


def test_wrong_codes_are_throttled_per_account(client, app, make_user, clock, monkeypatch):
    monkeypatch.setitem(app.config, "TWO_FACTOR_FAILURES_PER_ACCOUNT", "3 per 15 minutes")
    user = make_user("customer")
    secret, _ = enrol(user)
    login(client, user)
    codes = [second_step(client, "000000").status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    clock.shift(30)
    locked = second_step(client, pyotp.TOTP(secret).now())  # even the right code waits
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "Too many failed codes" in locked.text
    assert not signed_in(client)
    assert len(rows("auth.two_factor_failed")) == 3 and len(rows("auth.locked")) == 1
    clock.shift(15 * 60)
    login(client, user)
    assert second_step(client, pyotp.TOTP(secret).now()).status_code == 302


def test_the_pending_second_step_expires(client, make_user, clock):
    user = make_user("customer")
    secret, _ = enrol(user)
    login(client, user)
    clock.shift(6 * 60)
    response = client.get("/login/two-factor")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert second_step_post_without_page(client, pyotp.TOTP(secret).now()).status_code == 302
    assert not signed_in(client)


def second_step_post_without_page(client, code):
    return client.post("/login/two-factor", data={"code": code, "csrf_token": csrf_token(client, "/login")})


def test_turning_it_off_needs_the_password_and_a_current_code(client, make_user, clock):
    user = make_user("customer")
    secret, _ = enrol(user)
    totp = pyotp.TOTP(secret)
    login(client, user)
    clock.shift(30)
    assert second_step(client, totp.now()).status_code == 302
    clock.shift(30)
    token = csrf_token(client)
    no_password = client.post(
        "/profile/two-factor/disable", data={"password": "wrong-password", "code": totp.now(), "csrf_token": token}
    )
    assert no_password.status_code == 422 and "not your password" in no_password.text
    no_code = client.post(
        "/profile/two-factor/disable", data={"password": PASSWORD, "code": "000000", "csrf_token": token}
    )
    assert no_code.status_code == 422 and "not valid" in no_code.text
    assert fresh(user).has_two_factor and rows("two_factor.disabled") == []
    off = client.post(
        "/profile/two-factor/disable", data={"password": PASSWORD, "code": totp.now(), "csrf_token": token}
    )
    assert off.status_code == 303
    user = fresh(user)
    assert not user.has_two_factor and user.totp_secret is None
    assert db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all() == []
    [row] = rows("two_factor.disabled")
    assert row.actor_id == user.id
    sign_out(client)
    assert login(client, user).headers["Location"] == "/"  # password only again


def test_new_recovery_codes_need_a_current_code(client, make_user, clock):
    user = make_user("customer")
    secret, old_codes = enrol(user)
    totp = pyotp.TOTP(secret)
    login(client, user)
    clock.shift(30)
    second_step(client, totp.now())
    token = csrf_token(client)
    refused = client.post("/profile/two-factor/recovery-codes", data={"code": "123456", "csrf_token": token})
    assert refused.status_code == 422 and rows("two_factor.recovery_regenerated") == []
    clock.shift(30)
    made = client.post("/profile/two-factor/recovery-codes", data={"code": totp.now(), "csrf_token": token})
    assert made.status_code == 200
    new_codes = RECOVERY_RE.findall(made.text)
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert len(rows("two_factor.recovery_regenerated")) == 1
    user = fresh(user)
    assert not twofactor.use_recovery_code(user, old_codes[0])
    assert twofactor.use_recovery_code(user, new_codes[0])


def test_an_admin_resets_a_users_two_factor_once_audited(client, make_user, login_as, clock):
    agent = make_user("agent")
    enrol(agent)
    admin = make_user("admin")
    client, token = login_as(admin)
    page = client.get(f"/admin/users/{agent.id}")
    assert "Reset two-factor" in page.text
    response = client.post(f"/admin/users/{agent.id}/two-factor/reset", data={"csrf_token": token})
    assert response.status_code == 303
    agent = fresh(agent)
    assert not agent.has_two_factor and agent.totp_secret is None
    [row] = rows("two_factor.reset")
    assert (row.actor_id, row.target_id) == (admin.id, str(agent.id))
    assert "Reset two-factor" not in client.get(f"/admin/users/{agent.id}").text
    # Nothing left to reset: no second row.
    client.post(f"/admin/users/{agent.id}/two-factor/reset", data={"csrf_token": token})
    assert len(rows("two_factor.reset")) == 1


def test_a_manager_cannot_reset_an_admins_two_factor(client, make_user, login_as, clock):
    admin = make_user("admin")
    enrol(admin)
    client, token = login_as(make_user("manager"))
    assert client.post(f"/admin/users/{admin.id}/two-factor/reset", data={"csrf_token": token}).status_code == 403
    assert fresh(admin).has_two_factor and rows("two_factor.reset") == []


def test_required_roles_setting(app, monkeypatch):
    assert twofactor.required_roles("manager,admin") == {Role.manager, Role.admin}
    assert twofactor.required_roles("all-staff") == {Role.agent, Role.senior_agent, Role.manager, Role.admin}
    assert twofactor.required_roles(" Customer , nonsense ") == {Role.customer}
    assert twofactor.required_roles("") == frozenset()
    monkeypatch.setitem(app.config, "TWO_FACTOR_REQUIRED_ROLES", "all-staff")
    assert twofactor.is_required(User(role=Role.agent)) and not twofactor.is_required(User(role=Role.customer))


def test_a_role_requiring_it_reaches_nothing_before_enrolment(client, make_user, required, clock):
    manager = make_user("manager")
    first = login(client, manager)
    assert first.status_code == 302 and first.headers["Location"] == "/profile/two-factor"
    for path in ("/agent/", "/agent/queue", "/reports/", "/admin/", "/admin/users", "/profile", "/ops/roster"):
        response = client.get(path)
        assert response.status_code in (302, 303, 308), path
        assert response.headers["Location"].endswith("/profile/two-factor"), path
    partial = client.get("/agent/queue/counts", headers={"HX-Request": "true"})
    assert partial.headers["HX-Redirect"] == "/profile/two-factor" and partial.text == ""
    boosted = client.get("/agent/queue", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert boosted.headers["HX-Redirect"] == "/profile/two-factor"
    token = csrf_token(client, "/profile/two-factor")
    posted = client.post("/profile/tokens", data={"name": "sneaky", "csrf_token": token})
    assert posted.status_code == 303 and posted.headers["Location"].endswith("/profile/two-factor")
    assert client.get("/healthz").status_code == 200
    static = client.get("/static/css/app.css")
    static.close()
    assert static.status_code == 200

    secret = fresh(manager).totp_secret
    done = client.post("/profile/two-factor", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert done.status_code == 200 and len(RECOVERY_RE.findall(done.text)) == 10
    assert client.get("/agent/queue").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_sign_out_stays_open_and_the_api_is_not_gated(client, make_user, required):
    manager = make_user("manager")
    _token, plain = accounts.create_api_token(manager)
    db.session.commit()
    login(client, manager)
    assert client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {plain}"}).status_code == 200
    out = client.post("/logout", data={"csrf_token": csrf_token(client, "/profile/two-factor")})
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    assert client.get("/profile/two-factor").status_code == 302  # signed out: to the login page
    assert "/login" in client.get("/profile/two-factor").headers["Location"]


def test_customers_are_not_gated_and_may_opt_in(client, make_user, required):
    customer = make_user("customer")
    assert login(client, customer).headers["Location"] == "/"
    assert client.get("/portal/").status_code == 200
    assert "Set up two-factor authentication" in client.get("/profile").text


def test_a_password_only_session_from_before_enrolment_ends(app, make_user, required, clock):
    manager = make_user("manager")
    other, this = app.test_client(), app.test_client()
    login(other, manager)  # a second browser, signed in with the password only (and sent to enrolment)
    assert other.get("/agent/queue").headers["Location"].endswith("/profile/two-factor")
    login(this, manager)
    token = csrf_token(this, "/profile/two-factor")  # the page makes the secret being set up
    code = pyotp.TOTP(fresh(manager).totp_secret).now()
    assert this.post("/profile/two-factor", data={"code": code, "csrf_token": token}).status_code == 200
    assert this.get("/agent/queue").status_code == 200
    # The other browser never passed the second factor: signed out, not let in.
    response = other.get("/agent/queue")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert other.get("/agent/queue").headers["Location"].startswith("/login")


def test_wrong_passwords_and_codes_on_the_profile_are_throttled(client, app, make_user, clock, monkeypatch):
    monkeypatch.setitem(app.config, "TWO_FACTOR_FAILURES_PER_ACCOUNT", "3 per 15 minutes")
    user = make_user("customer")
    secret, _ = enrol(user)
    totp = pyotp.TOTP(secret)
    login(client, user)
    clock.shift(30)
    second_step(client, totp.now())
    token = csrf_token(client)
    guesses = [
        client.post(
            "/profile/two-factor/disable", data={"password": f"guess-{n}", "code": "000000", "csrf_token": token}
        ).status_code
        for n in range(3)
    ]
    assert guesses == [422, 422, 422]
    clock.shift(30)
    locked = client.post(
        "/profile/two-factor/disable", data={"password": PASSWORD, "code": totp.now(), "csrf_token": token}
    )
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0 and "Too many wrong" in locked.text
    assert fresh(user).has_two_factor
