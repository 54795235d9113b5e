"""Account flows by email: verified sign-up, organization joins (automatic or approved), password reset, the
password policy, email change, throttles, and that answers never tell whether an address has an account.

Emails go through the real path (outbox row → ``workers.accounts`` handler → ``senders.build_email``); only the
final SMTP hand-over is replaced by a list, and links are read from the delivered bodies."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import AccountLink, AuditEntry, LinkPurpose, OutboxMessage, Role, User, utcnow
from portal.services import account_flows, accounts
from tests.conftest import PASSWORD, csrf_from, csrf_token, login
from workers import senders
from workers.inline import run_pending

STRONG = "violet-harbour-lantern-42"
FLASHES = re.compile(r'<div id="flashes"[^>]*>(.*?)</div>', re.S)


@pytest.fixture
def mails(monkeypatch):
    """Every email the workers send (the SMTP hand-over replaced by a list)."""
    sent = []

    def capture(message):
        sent.append(message)
        return message["Message-ID"]

    monkeypatch.setattr(senders, "send_email", capture)
    return sent


def deliver(mails, address: str | None = None) -> list:
    run_pending()
    return [m for m in mails if address is None or m["To"] == address]


def body(message) -> str:
    return message.get_body(("plain",)).get_content()


def link_path(message, part: str) -> str:
    match = re.search(r"(https?://\S+" + re.escape(part) + r"\S+)", body(message))
    assert match, f"no {part} link in: {body(message)}"
    assert message["Auto-Submitted"] == "auto-generated"
    return urlsplit(match.group(1)).path


def post_form(client, path: str, data: dict, page: str | None = None):
    token = csrf_from(client.get(page or path).text)
    return client.post(path, data={**data, "csrf_token": token})


def signup(client, email: str, password: str = STRONG, name: str = "New Person"):
    return post_form(client, "/signup", {"name": name, "email": email, "password": password, "timezone": "UTC"})


def flashes(client, response) -> str:
    page = client.get(response.headers["Location"]).text
    return " ".join(FLASHES.search(page).group(1).split())


def outbox_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(OutboxMessage))


def audit_rows(action: str) -> list[AuditEntry]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def one_audit(action: str, user: User) -> AuditEntry:
    rows = audit_rows(action)
    assert len(rows) == 1, [(r.action, r.target_label) for r in rows]
    row = rows[0]
    assert row.target_type == "users" and row.target_id == str(user.id)
    assert row.before is not None and row.after is not None
    return row


def fresh(user: User) -> User:
    db.session.rollback()
    return db.session.get(User, user.id)


def user_by(email: str) -> User:
    db.session.rollback()
    return accounts.find_user_by_email(email)


def request_reset(client, email: str):
    return post_form(client, "/password/forgot", {"email": email})


def reset_link(client, mails, user: User) -> str:
    assert request_reset(client, user.email).status_code == 302
    [mail] = [m for m in deliver(mails, user.email) if m["Subject"] == "Reset your password"][-1:]
    return link_path(mail, "/password/reset/")


def set_password_by_link(client, path: str, password: str = STRONG):
    return post_form(client, path, {"password": password, "confirm": password})


# --------------------------------------------------------------------------- sign-up and verification


def test_signup_waits_for_the_emailed_link_then_joins_the_organization(client, make_org, mails):
    org = make_org("Acme", "acme.test")
    response = signup(client, "nina@acme.test")
    assert response.status_code == 302
    user = user_by("nina@acme.test")
    assert not user.is_verified and user.organization_id is None and user.requested_organization_id == org.id
    signup_row = one_audit("account.signup", user)
    assert signup_row.after["requested_organization_id"] == org.id

    # Nothing secret is stored: the link row keeps a digest, the outbox row only the link's id.
    [message] = db.session.scalars(select(OutboxMessage)).all()
    [link] = db.session.scalars(select(AccountLink)).all()
    assert message.kind == "notify.account_verify" and message.payload == {"link_id": link.id}
    [mail] = deliver(mails, "nina@acme.test")
    path = link_path(mail, "/verify/")
    token = path.rsplit("/", 1)[1]
    assert link.digest == hashlib.sha256(token.encode()).hexdigest() and token not in json.dumps(message.payload)

    page = client.get(path)  # opening the link (a mail scanner may) changes nothing
    assert page.status_code == 200 and "Confirm my address" in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert not fresh(user).is_verified
    done = post_form(client, path, {})
    assert done.status_code == 303 and "You can sign in now" in flashes(client, done)
    user = fresh(user)
    assert user.is_verified and user.organization_id == org.id and user.requested_organization_id is None
    row = one_audit("account.verified", user)
    assert row.before["email_verified_at"] is None and row.before["organization_id"] is None
    assert row.after["organization_id"] == org.id and row.after["email_verified_at"]
    again = post_form(client, path, {}, page="/signup")  # single use
    assert again.status_code == 410 and "expired or was already used" in again.text
    assert 'href="/verify/resend"' in again.text


def test_signup_without_an_organization_needs_the_address_and_staff_approval(app, client, make_user, mails):
    staff = app.test_client()
    login(staff, make_user(Role.manager))
    signup(client, "solo@nowhere.test")
    user = user_by("solo@nowhere.test")
    assert not user.is_approved and not user.is_verified and user.requested_organization_id is None
    assert "solo@nowhere.test" not in staff.get("/admin/").text  # nobody proved the address yet
    path = link_path(deliver(mails, "solo@nowhere.test")[0], "/verify/")
    done = post_form(client, path, {})
    assert "once our team has approved your account" in flashes(client, done)
    user = fresh(user)
    assert user.is_verified and not user.is_approved and user.organization_id is None
    assert f'action="/admin/users/{user.id}/approve"' in staff.get("/admin/").text


def test_approval_policy_keeps_the_organization_hidden_until_an_org_admin_approves(
    client, make_org, make_user, make_ticket, mails
):
    org = make_org("Globex", "globex.test", join_policy="approval")
    colleague = make_user(Role.customer, organization=org)
    make_ticket(colleague, subject="Colleague's private import issue")
    org_admin = make_user(Role.customer, organization=org, is_org_admin=True, email="boss@globex.test")
    signup(client, "newbie@globex.test")
    path = link_path(deliver(mails, "newbie@globex.test")[0], "/verify/")
    done = post_form(client, path, {})
    assert "Globex approves its new members" in flashes(client, done)
    newbie = user_by("newbie@globex.test")
    assert newbie.is_verified and newbie.organization_id is None and newbie.requested_organization_id == org.id
    # The org admin is told; the newcomer sees nothing of the organization meanwhile.
    [request_mail] = deliver(mails, "boss@globex.test")
    assert "asks to join Globex" in request_mail["Subject"]
    assert "/portal/organization/members" in body(request_mail)
    assert login(client, "newbie@globex.test", STRONG).status_code == 302
    assert "Colleague&#39;s private import issue" not in client.get("/portal/tickets").text
    client.post("/logout", data={"csrf_token": csrf_token(client)})

    # Another customer of the organization (no org admin) may not decide.
    login(client, colleague)
    assert client.get("/portal/organization/members").status_code == 403
    refused = client.post(f"/portal/organization/members/{newbie.id}/approve", data={"csrf_token": csrf_token(client)})
    assert refused.status_code == 403 and fresh(newbie).organization_id is None
    client.post("/logout", data={"csrf_token": csrf_token(client)})

    login(client, org_admin)
    page = client.get("/portal/organization/members")
    assert page.status_code == 200 and "newbie@globex.test" in page.text
    approved = client.post(
        f"/portal/organization/members/{newbie.id}/approve", data={"csrf_token": csrf_from(page.text)}
    )
    assert approved.status_code == 303
    newbie = fresh(newbie)
    assert newbie.organization_id == org.id and newbie.requested_organization_id is None
    row = one_audit("organization.join_approved", newbie)
    assert row.actor_id == org_admin.id
    assert row.before == {"organization_id": None, "requested_organization_id": org.id}
    assert row.after == {"organization_id": org.id, "requested_organization_id": None}
    [decided] = [m for m in deliver(mails, "newbie@globex.test") if "You joined Globex" in m["Subject"]]
    assert "now see the organization's tickets" in body(decided)
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    login(client, "newbie@globex.test", STRONG)
    assert "Colleague&#39;s private import issue" in client.get("/portal/tickets").text


def test_an_admin_sets_the_policy_and_refuses_a_join_on_the_organization_page(client, make_org, make_user, mails):
    org = make_org("Initech", "initech.test")
    admin = make_user(Role.admin)
    login(client, admin)
    page = client.get(f"/admin/organizations/{org.id}")
    saved = client.post(
        f"/admin/organizations/{org.id}",
        data={
            "name": "Initech",
            "email_domains": "initech.test",
            "region": "",
            "plan": "",
            "notes": "",
            "join_policy": "approval",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert saved.status_code == 303
    db.session.refresh(org)
    assert org.join_policy == "approval"
    client.post("/logout", data={"csrf_token": csrf_token(client)})

    signup(client, "peter@initech.test")
    post_form(client, link_path(deliver(mails, "peter@initech.test")[0], "/verify/"), {})
    peter = user_by("peter@initech.test")
    login(client, admin)
    page = client.get(f"/admin/organizations/{org.id}")
    assert "peter@initech.test" in page.text and "Requests to join (1)" in page.text
    refused = client.post(
        f"/admin/organizations/{org.id}/joins/{peter.id}/refuse", data={"csrf_token": csrf_from(page.text)}
    )
    assert refused.status_code == 303
    peter = fresh(peter)
    assert peter.organization_id is None and peter.requested_organization_id is None
    row = one_audit("organization.join_refused", peter)
    assert row.before == {"organization_id": None, "requested_organization_id": org.id}
    assert row.after == {"organization_id": None, "requested_organization_id": None}
    assert audit_rows("organization.join_approved") == []
    assert [m for m in deliver(mails, "peter@initech.test") if "Your request to join Initech" in m["Subject"]]
    # Deciding twice: nothing is waiting any more.
    again = client.post(
        f"/admin/organizations/{org.id}/joins/{peter.id}/approve", data={"csrf_token": csrf_token(client)}
    )
    assert again.status_code == 404 and fresh(peter).organization_id is None


def test_an_admin_makes_a_customer_an_organization_admin(client, make_org, make_user):
    org = make_org()
    customer = make_user(Role.customer, organization=org)
    login(client, make_user(Role.admin))
    page = client.get(f"/admin/users/{customer.id}")
    assert "Organization admin" in page.text
    response = client.post(
        f"/admin/users/{customer.id}",
        data={
            "name": customer.name,
            "role": "customer",
            "organization_id": str(org.id),
            "timezone": "UTC",
            "is_active_account": "y",
            "is_org_admin": "y",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 303 and fresh(customer).is_org_admin


def test_taken_and_free_addresses_get_the_same_answer_and_the_same_work(
    client, make_org, make_user, monkeypatch, mails
):
    make_org("Acme", "acme.test")
    owner = make_user(Role.customer, email="taken@acme.test")
    hashed = []
    real = accounts.hash_password
    monkeypatch.setattr(accounts, "hash_password", lambda password: hashed.append(password) or real(password))

    before = outbox_count()
    free = signup(client, "free@acme.test")
    after_free = outbox_count()
    hashes_free = len(hashed)
    free_message = flashes(client, free)
    taken = signup(client, "taken@acme.test", password="another-long-passphrase")
    after_taken = outbox_count()

    assert free.status_code == taken.status_code == 302
    assert free.headers["Location"] == taken.headers["Location"]
    assert free_message == flashes(client, taken) and "We sent a link" in free_message
    assert after_free - before == 1 and after_taken - after_free == 1
    assert hashes_free == 1 and len(hashed) == 2
    assert fresh(owner).password_hash == owner.password_hash  # nothing changed for the owner
    [notice] = deliver(mails, "taken@acme.test")
    assert "already have an account" in body(notice) and "/password/forgot" in body(notice)
    assert len(audit_rows("account.signup")) == 1  # only the new account


def test_forgot_password_answers_the_same_for_unknown_addresses(client, make_user, mails):
    user = make_user(Role.customer)
    known = request_reset(client, user.email)
    known_message = flashes(client, known)
    unknown = request_reset(client, "nobody@example.test")
    assert known.status_code == unknown.status_code == 302
    assert known_message == flashes(client, unknown) and "we sent it a link" in known_message
    kinds = sorted(db.session.scalars(select(OutboxMessage.kind)))
    assert kinds == ["notify.account_no_account", "notify.account_reset"]
    [notice] = deliver(mails, "nobody@example.test")
    assert "no active account uses this address" in body(notice)


def test_resending_the_confirmation_is_throttled_per_address_and_per_client(client, app, monkeypatch, mails):
    monkeypatch.setitem(app.config, "VERIFY_RESEND_RATE_LIMIT", "3 per hour")
    signup(client, "late@nowhere.test")
    answers = [post_form(client, "/verify/resend", {"email": "late@nowhere.test"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [302, 302, 302]
    blocked = post_form(client, "/verify/resend", {"email": "late@nowhere.test"})
    assert (
        blocked.status_code == 429 and "Too many requests" in blocked.text and int(blocked.headers["Retry-After"]) > 0
    )
    # Only the newest link works: each resend retired the one before.
    links = db.session.scalars(select(AccountLink).order_by(AccountLink.id)).all()
    assert len(links) == 4 and [link.used_at is None for link in links] == [False, False, False, True]
    # Per client too: another address from the same client is refused now (and an unknown one alike).
    assert post_form(client, "/verify/resend", {"email": "other@nowhere.test"}).status_code == 429
    with time_machine.travel(utcnow() + timedelta(hours=1, minutes=1)):
        assert post_form(client, "/verify/resend", {"email": "late@nowhere.test"}).status_code == 302


def test_forgot_password_is_throttled_per_address_and_per_client(client, app, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "RESET_RATE_LIMIT", "2 per hour")
    user = make_user(Role.customer)
    assert [request_reset(client, user.email).status_code for _ in range(2)] == [302, 302]
    assert request_reset(client, user.email).status_code == 429  # per address
    assert request_reset(client, "someone-else@example.test").status_code == 429  # per client: 2 already


# --------------------------------------------------------------------------- password reset


def test_password_reset_by_email(client, make_user, mails):
    user = make_user(Role.customer, email_verified_at=None)
    path = reset_link(client, mails, user)
    page = client.get(path)
    assert page.status_code == 200 and "Choose a new password" in page.text
    weak = set_password_by_link(client, path, "Password123")
    assert weak.status_code == 422 and "most common" in weak.text
    differ = post_form(client, path, {"password": STRONG, "confirm": STRONG + "x"})
    assert differ.status_code == 422 and "The passwords differ." in differ.text
    done = set_password_by_link(client, path)
    assert done.status_code == 303
    user = fresh(user)
    assert user.password_changed_at is not None and user.is_verified  # the link proved the address too
    row = one_audit("account.password_reset", user)
    assert row.before == {"password_changed_at": None} and row.after["password_changed_at"]
    one_audit("account.verified", user)
    assert login(client, user, PASSWORD).status_code == 401
    assert login(client, user, STRONG).status_code == 302


def test_a_reset_link_works_once(client, make_user, mails):
    user = make_user(Role.customer)
    path = reset_link(client, mails, user)
    assert set_password_by_link(client, path).status_code == 303
    again = set_password_by_link(client, path, "yet-another-passphrase-7")
    assert again.status_code == 410 and "expired or was already used" in again.text
    assert 'href="/password/forgot"' in again.text
    assert client.get(path).status_code == 410
    assert login(client, user, STRONG).status_code == 302


def test_an_expired_reset_link_is_refused(client, app, make_user, mails):
    user = make_user(Role.customer)
    path = reset_link(client, mails, user)
    with time_machine.travel(utcnow() + timedelta(minutes=app.config["PASSWORD_RESET_MINUTES"], seconds=1)):
        assert client.get(path).status_code == 410
        assert set_password_by_link(client, path).status_code == 410
    assert fresh(user).password_hash == user.password_hash


def test_a_newer_reset_link_retires_the_older_one(client, make_user, mails):
    user = make_user(Role.customer)
    older = reset_link(client, mails, user)
    newer = reset_link(client, mails, user)
    assert older != newer
    assert client.get(older).status_code == 410
    assert set_password_by_link(client, older).status_code == 410
    assert set_password_by_link(client, newer).status_code == 303


def test_a_password_change_retires_outstanding_reset_links(client, make_user, mails):
    user = make_user(Role.agent)
    path = reset_link(client, mails, user)
    login(client, user)
    changed = post_form(
        client,
        "/profile/password",
        {"current_password": PASSWORD, "new_password": STRONG, "confirm": STRONG},
        page="/profile",
    )
    assert changed.status_code == 302
    user = fresh(user)
    assert user.password_changed_at is not None
    row = one_audit("account.password_changed", user)
    assert row.before == {"password_changed_at": None} and row.after["password_changed_at"]
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert client.get(path).status_code == 410
    assert set_password_by_link(client, path, "a-third-passphrase-99").status_code == 410


def test_a_forged_or_malformed_token_is_refused(client, make_user, mails):
    user = make_user(Role.customer)
    path = reset_link(client, mails, user)
    link_id, signature = path.rsplit("/", 1)[1].split(".")
    for bad in (f"{link_id}.{signature[:-2]}AA", f"{int(link_id) + 1}.{signature}", "nonsense", "1.", ".x"):
        assert client.get(f"/password/reset/{bad}").status_code == 410
    # A reset token is no confirmation link, and the other way round.
    assert client.get(f"/verify/{link_id}.{signature}").status_code == 410


# --------------------------------------------------------------------------- the password policy


@pytest.mark.parametrize("password", ["password123", "PassWord123", "qwertyuiop", "1q2w3e4r5t"])
def test_common_passwords_are_refused_at_signup(client, password):
    response = signup(client, "careful@nowhere.test", password=password)
    assert response.status_code == 422 and "most common" in response.text
    assert user_by("careful@nowhere.test") is None


def test_the_policy_refuses_short_passwords_and_the_address(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_MIN_LENGTH", 14)
    short = signup(client, "someone@nowhere.test", password="thirteen-char")
    assert short.status_code == 422 and "at least 14 characters" in short.text
    own = signup(client, "jonathan.smithers@nowhere.test", password="Jonathan.Smithers")
    assert own.status_code == 422 and "email address as password" in own.text
    full = signup(client, "jonathan.smithers@nowhere.test", password="jonathan.smithers@nowhere.test")
    assert full.status_code == 422


def test_the_policy_applies_to_profile_changes_and_staff_made_accounts(client, make_user):
    admin = make_user(Role.admin)
    login(client, admin)
    changed = post_form(
        client,
        "/profile/password",
        {"current_password": PASSWORD, "new_password": "iloveyou123", "confirm": "iloveyou123"},
        page="/profile",
    )
    assert changed.status_code == 422 and "most common" in changed.text
    page = client.get("/admin/users/new")
    data = {"name": "Made By Staff", "role": "customer", "timezone": "UTC", "csrf_token": csrf_from(page.text)}
    weak = client.post("/admin/users/new", data={**data, "email": "staff.made@example.test", "password": "1234567890"})
    assert weak.status_code == 422 and "most common" in weak.text
    ok = client.post("/admin/users/new", data={**data, "email": "staff.made@example.test", "password": STRONG})
    assert ok.status_code == 303
    assert user_by("staff.made@example.test").is_verified  # made by staff: verified when made


# --------------------------------------------------------------------------- email change


def change_email(client, new: str, password: str = PASSWORD):
    return post_form(client, "/profile/email", {"new_email": new, "current_password": password}, page="/profile")


def test_email_change_confirms_the_new_address_and_tells_the_old_one(client, make_user, mails):
    user = make_user(Role.customer, email="old@example.test")
    login(client, user)
    profile = client.get("/profile").text
    assert 'id="profile-email">old@example.test' in profile and "Change address" in profile
    wrong = change_email(client, "new@example.test", password="not-my-password")
    assert wrong.status_code == 422 and "not your current password" in wrong.text
    asked = change_email(client, "new@example.test")
    assert asked.status_code == 303
    assert fresh(user).email == "old@example.test"  # only the link changes it
    assert "Change waiting" in client.get("/profile").text
    [told] = deliver(mails, "old@example.test")
    assert "being changed to new@example.test" in body(told)
    [confirm] = deliver(mails, "new@example.test")
    path = link_path(confirm, "/email/confirm/")
    assert fresh(user).email == "old@example.test"
    page = client.get(path)
    assert page.status_code == 200 and "new@example.test" in page.text
    done = post_form(client, path, {})
    assert done.status_code == 303
    user = fresh(user)
    assert user.email == "new@example.test"
    row = one_audit("account.email_changed", user)
    assert row.before == {"email": "old@example.test"} and row.after == {"email": "new@example.test"}
    [changed] = [m for m in deliver(mails, "old@example.test") if "was changed" in m["Subject"]]
    assert "changed to new@example.test" in body(changed)
    assert post_form(client, path, {}, page="/profile").status_code == 410  # single use
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert login(client, "new@example.test").status_code == 302


def test_email_change_is_refused_when_the_address_was_taken_meanwhile(client, make_user, mails):
    user = make_user(Role.customer, email="mine@example.test")
    login(client, user)
    change_email(client, "wanted@example.test")
    path = link_path(deliver(mails, "wanted@example.test")[0], "/email/confirm/")
    make_user(Role.customer, email="wanted@example.test")  # someone else got it first
    refused = post_form(client, path, {})
    assert refused.status_code == 409 and "belongs to another account" in refused.text
    assert fresh(user).email == "mine@example.test"
    assert audit_rows("account.email_changed") == []


def test_email_change_to_a_taken_address_answers_alike_and_tells_its_owner(client, make_user, mails):
    make_user(Role.customer, email="owner@example.test")
    user = make_user(Role.customer)
    login(client, user)
    taken = change_email(client, "owner@example.test")
    assert taken.status_code == 303
    assert "We sent a link to owner@example.test" in flashes(client, taken)
    assert db.session.scalars(select(AccountLink)).all() == []
    [notice] = deliver(mails, "owner@example.test")
    assert "already belongs to your account" in body(notice)


def test_an_email_change_retires_the_links_sent_to_the_old_address(client, make_user, mails):
    user = make_user(Role.customer, email="before@example.test")
    reset_path = reset_link(client, mails, user)
    login(client, user)
    change_email(client, "after@example.test")
    post_form(client, link_path(deliver(mails, "after@example.test")[0], "/email/confirm/"), {})
    assert fresh(user).email == "after@example.test"
    assert client.get(reset_path).status_code == 410


# --------------------------------------------------------------------------- accounts made otherwise


def test_the_demo_seed_makes_verified_accounts(runner):
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    assert db.session.scalar(select(func.count()).select_from(User)) > 10
    assert db.session.scalar(select(func.count()).select_from(User).where(User.email_verified_at.is_(None))) == 0


def test_the_history_import_makes_verified_accounts():
    from portal.services.history_import import import_lines
    from tests.test_history_import import NOW, simple

    import_lines([json.dumps(simple("ZD-1"))], now=NOW)
    db.session.commit()
    [customer] = db.session.scalars(select(User).where(User.role == Role.customer)).all()
    assert customer.is_verified


def test_link_purposes_and_lifetimes(app, make_user):
    user = make_user(Role.customer)
    with app.test_request_context():
        verify = account_flows.issue_link(user, LinkPurpose.verify_email)
        reset = account_flows.issue_link(user, LinkPurpose.reset_password)
        assert verify.expires_at - verify.created_at == timedelta(hours=app.config["EMAIL_VERIFY_HOURS"])
        assert reset.expires_at - reset.created_at == timedelta(minutes=app.config["PASSWORD_RESET_MINUTES"])
        token = account_flows.token_for(reset)
        assert account_flows.resolve_link(token, LinkPurpose.reset_password) is reset
        with pytest.raises(account_flows.LinkRefused):
            account_flows.resolve_link(token, LinkPurpose.verify_email)


def test_a_password_reset_signs_the_other_browsers_out(app, make_user, mails):
    user = make_user(Role.customer)
    signed_in, other = app.test_client(), app.test_client()
    assert login(signed_in, user).status_code == 302
    assert signed_in.get("/profile").status_code == 200
    assert set_password_by_link(other, reset_link(other, mails, user)).status_code == 303
    assert signed_in.get("/profile").status_code == 302


def test_a_reset_link_is_used_once_even_when_two_requests_race(app, make_user, monkeypatch):
    """Request 1 has checked the link when request 2 uses it up: request 1 is refused, its password is not set."""
    user = make_user("customer")
    link = account_flows.issue_link(user, LinkPurpose.reset_password)
    token = account_flows.token_for(link)
    db.session.commit()
    checked = account_flows.resolve_link

    def checked_then_raced(*args, **kwargs):
        found = checked(*args, **kwargs)
        with db.engine.begin() as other:  # the racing request, on its own connection, commits first
            other.execute(update(AccountLink).where(AccountLink.id == link.id).values(used_at=utcnow()))
        return found

    monkeypatch.setattr(account_flows, "resolve_link", checked_then_raced)
    with pytest.raises(account_flows.LinkRefused):
        account_flows.reset_password(token, STRONG)
    db.session.rollback()
    assert accounts.authenticate(user.email, PASSWORD) is not None  # the old password still works
