"""The identity a platform signs (JWT or HMAC) and what POST /widget/session makes of it: expiry, clock skew, key
ids, revoked keys, forged algorithms, staff addresses, verified-only sites, and the account a new address gets."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import jwt
import pytest
import time_machine

from portal.extensions import db
from portal.models import JoinPolicy, Role, User
from portal.services.accounts import UNUSABLE_PASSWORD, find_user_by_email
from portal.services.widget import sessions, sites
from tests.widget.conftest import hmac_fields, sign

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _refused(response, status: int, code: str):
    assert response.status_code == status, response.text
    assert response.json["error"]["code"] == code, response.json
    assert response.json["error"]["message"]


def test_a_signed_customer_gets_a_session_for_their_account(app, make_site, make_org, make_user, start_session):
    site = make_site()
    customer = make_user(Role.customer, organization=make_org())
    response = start_session(site, jwt=sign(site, customer.email.upper()))
    assert response.status_code == 200, response.text
    assert response.json["user"]["email"] == customer.email
    with app.test_request_context(headers={sessions.HEADER: response.json["token"]}):
        widget = sessions.from_request()
        assert widget.user.id == customer.id and widget.site_id == site.id and widget.verified


def test_a_new_address_gets_a_customer_account_in_the_organization_of_its_domain(make_site, make_org, start_session):
    site = make_site()
    org = make_org(domains="greenco.example")
    response = start_session(site, jwt=sign(site, "New.Person@GreenCo.example", name="New Person"))
    assert response.status_code == 200, response.text
    user = find_user_by_email("new.person@greenco.example")
    assert user.role is Role.customer and user.organization_id == org.id and user.name == "New Person"
    assert user.password_hash == UNUSABLE_PASSWORD and user.email_verified_at is None
    # The next visit finds the same account.
    assert start_session(site, jwt=sign(site, "new.person@greenco.example")).status_code == 200
    assert db.session.scalar(db.select(db.func.count()).select_from(User).where(User.email.like("new.person%"))) == 1


def test_an_organization_that_approves_joins_gets_a_request_not_a_member(make_site, make_org, start_session):
    site = make_site()
    org = make_org(domains="careful.example", join_policy=JoinPolicy.approval.value)
    assert start_session(site, jwt=sign(site, "someone@careful.example")).status_code == 200
    user = find_user_by_email("someone@careful.example")
    assert user.organization_id is None and user.requested_organization_id == org.id


def test_an_address_of_no_organization_gets_an_account_of_its_own(make_site, start_session):
    site = make_site()
    assert start_session(site, jwt=sign(site, "solo@nowhere.example")).status_code == 200
    assert find_user_by_email("solo@nowhere.example").organization_id is None


@pytest.mark.parametrize("role", [Role.agent, Role.senior_agent, Role.manager, Role.admin])
def test_staff_addresses_are_never_accepted(make_site, make_user, start_session, role):
    site = make_site()
    staff = make_user(role)
    _refused(start_session(site, jwt=sign(site, staff.email)), 403, "staff")
    _refused(start_session(site, **hmac_fields(site, staff.email)), 403, "staff")


def test_a_disabled_customer_is_refused(make_site, make_user, start_session):
    site = make_site()
    user = make_user(Role.customer, is_active_account=False)
    _refused(start_session(site, jwt=sign(site, user.email)), 403, "inactive")


def test_expiry_and_clock_skew(app, make_site, start_session, monkeypatch):
    monkeypatch.setitem(app.config, "WIDGET_CLOCK_SKEW_SECONDS", 60)
    monkeypatch.setitem(app.config, "WIDGET_IDENTITY_MAX_AGE_SECONDS", 600)
    site = make_site()
    at = int(NOW.timestamp())
    with time_machine.travel(NOW, tick=False):
        ok = {"iat": at, "exp": at + 300}
        assert start_session(site, jwt=sign(site, "a@x.example", **ok)).status_code == 200
        # Expired 30 s ago: within the skew, still taken; 90 s ago: refused.
        assert start_session(site, jwt=sign(site, "a@x.example", iat=at - 200, exp=at - 30)).status_code == 200
        _refused(start_session(site, jwt=sign(site, "a@x.example", iat=at - 200, exp=at - 90)), 401, "expired")
        # Issued by a clock 30 s ahead of ours: taken; 5 minutes ahead: refused (iat, and nbf, in the future).
        assert start_session(site, jwt=sign(site, "a@x.example", iat=at + 30, exp=at + 300)).status_code == 200
        _refused(start_session(site, jwt=sign(site, "a@x.example", iat=at + 300, exp=at + 900)), 401, "not_yet_valid")
        late = sign(site, "a@x.example", iat=at, exp=at + 900, nbf=at + 300)
        _refused(start_session(site, jwt=late), 401, "not_yet_valid")
        # Older than the maximum age (plus skew) even though exp is far away: refused.
        old = sign(site, "a@x.example", iat=at - 700, exp=at + 3600)
        _refused(start_session(site, jwt=old), 401, "expired")
        assert start_session(site, jwt=sign(site, "a@x.example", iat=at - 650, exp=at + 3600)).status_code == 200


def test_claims_are_required(make_site, start_session):
    site = make_site()
    for missing in ("exp", "iat", "email"):
        payload = {"email": "a@x.example", "iat": 1, "exp": 2}
        payload.pop(missing)
        token = jwt.encode(
            {**payload, **({"iat": int(NOW.timestamp())} if missing != "iat" else {})},
            site.test_secret,
            algorithm="HS256",
            headers={"kid": site.test_kid},
        )
        assert start_session(site, jwt=token).status_code == 401, missing


def test_wrong_kid_and_wrong_secret_and_tampering(make_site, start_session):
    site = make_site()
    other = make_site(name="Other platform")
    _refused(start_session(site, jwt=sign(site, "a@x.example", kid="nope")), 401, "unknown_key")
    # Another site's key id and secret sign nothing here.
    _refused(start_session(site, jwt=sign(other, "a@x.example")), 401, "unknown_key")
    _refused(start_session(site, jwt=sign(site, "a@x.example", secret=other.test_secret)), 401, "bad_signature")
    head, body, signature = sign(site, "victim@x.example").split(".")
    forged_body = _b64({**json.loads(base64.urlsafe_b64decode(body + "==")), "email": "admin@x.example"})
    _refused(start_session(site, jwt=f"{head}.{forged_body}.{signature}"), 401, "bad_signature")
    _refused(start_session(site, jwt="not.a.jwt"), 401, "malformed")
    _refused(start_session(site, jwt=["list"]), 401, "malformed")


def test_alg_none_and_other_algorithms_are_refused(make_site, start_session):
    site = make_site()
    now = int(NOW.timestamp())
    claims = {"email": "a@x.example", "iat": now, "exp": now + 300}
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': site.test_kid})}.{_b64(claims)}."
    with time_machine.travel(NOW, tick=False):
        _refused(start_session(site, jwt=unsigned), 401, "algorithm")
        hs512 = jwt.encode(claims, site.test_secret, algorithm="HS512", headers={"kid": site.test_kid})
        _refused(start_session(site, jwt=hs512), 401, "algorithm")
        assert start_session(site, jwt=sign(site, "a@x.example")).status_code == 200


def test_a_revoked_key_signs_nothing(make_site, make_user, start_session):
    site = make_site()
    token = sign(site, "a@x.example")
    assert start_session(site, jwt=token).status_code == 200
    sites.revoke_secret(make_user(Role.admin), site, site.secrets[0].id)
    db.session.commit()
    _refused(start_session(site, jwt=token), 401, "unknown_key")
    _refused(start_session(site, **hmac_fields(site, "a@x.example")), 401, "unknown_key")


def test_hmac_of_the_email(make_site, start_session):
    site = make_site(mode="hmac")
    assert start_session(site, **hmac_fields(site, "h@x.example")).status_code == 200
    fields = hmac_fields(site, "h@x.example")
    _refused(start_session(site, **{**fields, "email": "other@x.example"}), 401, "bad_signature")
    _refused(start_session(site, **{**fields, "kid": "k-unknown"}), 401, "unknown_key")
    _refused(start_session(site, **{**fields, "user_hash": "0" * 64}), 401, "bad_signature")
    # This site takes hashes only: a JWT is refused whatever it says.
    _refused(start_session(site, jwt=sign(site, "h@x.example")), 401, "mode")


def test_a_jwt_only_site_refuses_hashes(make_site, start_session):
    site = make_site(mode="jwt")
    _refused(start_session(site, **hmac_fields(site, "h@x.example")), 401, "mode")


def test_verified_only_refuses_anonymous_visitors_and_an_unsigned_email(make_site, start_session):
    site = make_site(verified_only=True)
    _refused(start_session(site), 401, "not_signed")
    _refused(start_session(site, email="someone@x.example"), 401, "not_signed")  # an email alone proves nothing
    assert find_user_by_email("someone@x.example") is None


def test_an_open_site_takes_anonymous_visitors_without_a_session(make_site, start_session):
    site = make_site(verified_only=False)
    response = start_session(site, email="someone@x.example")
    assert response.status_code == 200 and response.json["token"] is None and response.json["user"] is None
    assert find_user_by_email("someone@x.example") is None
    # A bad signature is still refused, not quietly made anonymous.
    _refused(start_session(site, jwt=sign(site, "a@x.example", kid="nope")), 401, "unknown_key")


def test_session_request_checks(client, make_site, start_session):
    site = make_site()
    assert client.post("/widget/session", json={"key": "wpk_unknown"}).status_code == 404
    assert client.post("/widget/session", data="key=x").status_code == 400
    response = client.post(
        "/widget/session",
        json={"key": site.public_key, "jwt": sign(site, "a@x.example")},
        headers={"Origin": "https://platform.example.test"},  # a page elsewhere calling the endpoint itself
    )
    _refused(response, 403, "origin")
    site.is_active = False
    db.session.commit()
    assert start_session(site, jwt=sign(site, "a@x.example")).status_code == 404


def test_two_first_visits_at_once_end_with_one_account(make_user, monkeypatch):
    from portal.services.widget import identity

    first = make_user(Role.customer, email="racer@x.example")
    calls = []

    def not_yet_then_found(address):  # the other request's account appears between our look-up and our insert
        calls.append(address)
        return None if len(calls) == 1 else find_user_by_email(address)

    monkeypatch.setattr(identity, "find_user_by_email", not_yet_then_found)
    signed = identity.SignedIdentity(email="racer@x.example", name="", kid="k", method="jwt")
    assert identity.account_for(signed).id == first.id and len(calls) == 2
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 1
