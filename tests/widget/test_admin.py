"""/admin/widget: admins only; sites with exact origins; keys made, rotated and revoked, each secret shown once,
each change in the audit log."""

from __future__ import annotations

import re

import pytest

from portal.extensions import db
from portal.models import AuditEntry, Role
from portal.models.widget import WidgetSecret, WidgetSite
from tests.conftest import login
from tests.widget.conftest import sign

FORM = {
    "new-name": "ESG platform",
    "new-origins": "https://App.Example.com/\nhttp://localhost:5001",
    "new-identity_mode": "jwt",
    "new-verified_only": "y",
    "new-is_active": "y",
}


def _secret_on(page: str) -> str | None:
    match = re.search(r'id="revealed-value">([^<]+)<', page)
    return match.group(1) if match else None


def test_admins_only(client, make_user):
    assert client.get("/admin/widget").status_code == 302  # anonymous: to the sign-in page
    for role in (Role.customer, Role.agent, Role.senior_agent, Role.manager):
        client.post("/logout")
        with client.session_transaction() as session:
            session.clear()
        assert login(client, make_user(role)).status_code == 302
        assert client.get("/admin/widget").status_code == 403, role
        assert client.post("/admin/widget", data=FORM).status_code in (400, 403)
    assert db.session.scalar(db.select(db.func.count()).select_from(WidgetSite)) == 0


def test_an_admin_creates_a_site_and_sees_its_secret_once(login_as, make_user, start_session):
    client, token = login_as(make_user(Role.admin))
    page = client.post("/admin/widget", data=FORM, headers={"X-CSRFToken": token})
    assert page.status_code == 200
    site = db.session.scalar(db.select(WidgetSite))
    assert site.origins == ["https://app.example.com", "http://localhost:5001"] and site.verified_only
    secret = _secret_on(page.text)
    assert secret == site.secrets[0].secret
    assert f'data-key="{site.public_key}"' in page.text and "/widget.js" in page.text  # the snippet
    again = client.get("/admin/widget")
    assert again.status_code == 200 and secret not in again.text and site.secrets[0].kid in again.text
    assert again.headers["Cache-Control"] == "no-store"
    site.test_secret, site.test_kid = secret, site.secrets[0].kid
    assert start_session(site, jwt=sign(site, "a@x.example")).status_code == 200


@pytest.mark.parametrize(
    "origins", ["https://*.example.com", "https://app.example.com/path", "app.example.com", "", "https://a b"]
)
def test_bad_origins_are_refused_with_a_message(login_as, make_user, origins):
    client, token = login_as(make_user(Role.admin))
    page = client.post("/admin/widget", data={**FORM, "new-origins": origins}, headers={"X-CSRFToken": token})
    assert page.status_code == 422 and 'aria-invalid="true"' in page.text
    assert db.session.scalar(db.select(db.func.count()).select_from(WidgetSite)) == 0


def test_editing_a_site(login_as, make_user, make_site):
    site = make_site()
    client, token = login_as(make_user(Role.admin))
    data = {
        f"site{site.id}-name": "Renamed",
        f"site{site.id}-origins": "https://new.example.com:8443",
        f"site{site.id}-identity_mode": "hmac",
        f"site{site.id}-is_active": "y",
    }
    assert client.post(f"/admin/widget/{site.id}", data=data, headers={"X-CSRFToken": token}).status_code == 303
    db.session.refresh(site)
    assert site.name == "Renamed" and site.origins == ["https://new.example.com:8443"]
    assert site.identity_mode == "hmac" and not site.verified_only
    bad = client.post(
        f"/admin/widget/{site.id}", data={**data, f"site{site.id}-origins": "*"}, headers={"X-CSRFToken": token}
    )
    assert bad.status_code == 422
    db.session.refresh(site)
    assert site.origins == ["https://new.example.com:8443"]


def test_keys_are_added_rotated_and_revoked(login_as, make_user, make_site, start_session):
    site = make_site()
    first = site.secrets[0]
    old_token = sign(site, "a@x.example")
    client, token = login_as(make_user(Role.admin))
    headers = {"X-CSRFToken": token}

    added = client.post(f"/admin/widget/{site.id}/keys", headers=headers)
    assert added.status_code == 200 and _secret_on(added.text)
    db.session.expire_all()
    assert len([s for s in site.secrets if s.revoked_at is None]) == 2  # both sign during a planned rotation
    assert start_session(site, jwt=old_token).status_code == 200

    rotated = client.post(f"/admin/widget/{site.id}/keys/{first.id}/rotate", headers=headers)
    assert rotated.status_code == 200
    new_secret = _secret_on(rotated.text)
    db.session.expire_all()
    assert db.session.get(WidgetSecret, first.id).revoked_at is not None
    newest = db.session.scalar(db.select(WidgetSecret).order_by(WidgetSecret.id.desc()))
    assert newest.secret == new_secret and newest.kid != first.kid
    assert start_session(site, jwt=old_token).status_code == 401
    assert start_session(site, jwt=sign(site, "a@x.example", kid=newest.kid, secret=new_secret)).status_code == 200

    revoked = client.post(f"/admin/widget/{site.id}/keys/{newest.id}/revoke", headers=headers)
    assert revoked.status_code == 303
    assert start_session(site, jwt=sign(site, "a@x.example", kid=newest.kid, secret=new_secret)).status_code == 401
    # A key of another site cannot be touched through this one.
    other = make_site(name="Other")
    assert client.post(f"/admin/widget/{site.id}/keys/{other.secrets[0].id}/revoke", headers=headers).status_code == 404

    details = [
        e.detail for e in db.session.scalars(db.select(AuditEntry).where(AuditEntry.target_type == "widget_secrets"))
    ]
    assert "Widget signing key revoked" in details and "Widget signing key created" in details
    assert all(new_secret not in str(e.before) + str(e.after) for e in db.session.scalars(db.select(AuditEntry)))
