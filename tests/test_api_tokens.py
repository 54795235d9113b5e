"""API tokens: made on the profile page with a scope and a life (shown once), listed with both, revoked; a read
token cannot write (403 insufficient_scope), a revoked or expired token is refused (401); both audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from portal.extensions import db
from portal.models import ApiToken, AuditEntry
from portal.services import accounts
from portal.services.errors import ValidationFailed
from tests.conftest import csrf_from, csrf_token, login

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NEW_TOKEN_RE = re.compile(r'<code id="new-token">([^<]+)</code>')
TICKET = {"subject": "GRI report empty", "description": "The GRI 305 report shows no data.", "category": "data"}


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def bearer(plain: str) -> dict:
    return {"Authorization": f"Bearer {plain}"}


def audit_rows(action: str) -> list[AuditEntry]:
    db.session.rollback()
    return db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


def create(client, **data):
    return client.post("/profile/tokens", data={"csrf_token": csrf_token(client), **data})


def test_a_token_is_made_with_a_scope_and_a_life_and_shown_once(client, make_user, clock):
    user = make_user("customer", timezone="Europe/Berlin")
    login(client, user)
    profile = client.get("/profile").text
    assert 'value="90"' in profile and 'id="token-scope-0"' in profile and "From 1 to 365 days." in profile
    assert re.search(r'<input[^>]*checked[^>]*value="read"|<input[^>]*value="read"[^>]*checked', profile)

    made = create(client, name="Nightly export", scope="read", days="30")
    assert made.status_code == 200
    plain = NEW_TOKEN_RE.search(made.text).group(1)
    assert plain.startswith("esg_") and "copy it now, it is not shown again" in made.text
    [token] = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).all()
    assert token.scope == "read" and token.expires_at == T0 + timedelta(days=30)
    assert token.token_digest != plain and plain not in token.token_digest

    row = re.search(rf'<tr id="token-{token.id}">.*?</tr>', made.text, re.S).group(0)
    assert "Nightly export" in row and "Read only" in row and f"{token.prefix}…" in row
    assert "2026-03-02 10:00 CET" in row and "2026-04-01 11:00 CEST" in row  # created, expires (Berlin time)
    assert "never" in row  # not used yet

    again = client.get("/profile").text
    assert plain not in again and 'id="new-token"' not in again and token.prefix in again
    [entry] = audit_rows("token.created")
    assert entry.actor_id == user.id and entry.after == {"scope": "read", "expires_at": token.expires_at.isoformat()}
    assert plain not in str(entry.after) + (entry.target_label or "")

    write = create(client, name="Support button", scope="write")  # no life given: the default
    assert write.status_code == 200
    newest = db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc())).first()
    assert newest.scope == "write" and newest.expires_at == T0 + timedelta(days=90)
    assert "Read and write" in write.text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"days": "366"}, "Choose a whole number of days from 1 to 365."),
        ({"days": "0"}, "Choose a whole number of days from 1 to 365."),
        ({"days": "-5"}, "Choose a whole number of days from 1 to 365."),
        ({"days": "soon"}, "Not a valid integer value."),
        ({"scope": "admin"}, "Not a valid choice."),
        ({"name": ""}, "This field is required."),
    ],
)
def test_a_bad_token_form_is_a_422_and_makes_nothing(client, make_user, data, message):
    login(client, make_user("customer"))
    page = create(client, **{"name": "script", "scope": "read", "days": "30", **data})
    assert page.status_code == 422 and message in page.text and 'class="field-error"' in page.text
    assert db.session.scalar(select(ApiToken.id)) is None and not audit_rows("token.created")


def test_the_longest_life_is_a_setting(app, client, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "API_TOKEN_MAX_DAYS", 7)
    login(client, make_user("customer"))
    assert create(client, name="x", days="8").status_code == 422
    assert create(client, name="x", days="7").status_code == 200
    with pytest.raises(ValidationFailed):
        accounts.create_api_token(make_user("customer"), days=30)


def test_a_read_token_cannot_write(client, make_user):
    user = make_user("customer")
    _read, read_plain = accounts.create_api_token(user, "reader", scope="read")
    _write, write_plain = accounts.create_api_token(user, "writer", scope="write")
    db.session.commit()
    assert client.get("/api/v1/tickets", headers=bearer(read_plain)).status_code == 200
    assert client.head("/api/v1/tickets", headers=bearer(read_plain)).status_code == 200
    refused = client.post("/api/v1/tickets", json=TICKET, headers=bearer(read_plain))
    assert refused.status_code == 403 and refused.json["error"]["code"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    created = client.post("/api/v1/tickets", json=TICKET, headers=bearer(write_plain))
    assert created.status_code == 201
    reference = created.json["ticket"]["reference"]
    assert client.get(f"/api/v1/tickets/{reference}", headers=bearer(read_plain)).status_code == 200
    for method, path, body in (
        ("PATCH", f"/api/v1/tickets/{reference}", {"version": 1, "priority": "high"}),
        ("POST", f"/api/v1/tickets/{reference}/replies", {"body": "More detail"}),
    ):
        answer = client.open(path, method=method, json=body, headers=bearer(read_plain))
        assert answer.status_code == 403 and answer.json["error"]["code"] == "insufficient_scope", path
    assert client.get("/api/v1/kb/search?q=report", headers=bearer(read_plain)).status_code == 200


def test_a_revoked_token_is_refused_and_the_revocation_audited(client, make_user):
    user = make_user("customer")
    login(client, user)
    plain = NEW_TOKEN_RE.search(create(client, name="script", scope="write").text).group(1)
    assert client.get("/api/v1/tickets", headers=bearer(plain)).status_code == 200
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    page = client.get("/profile")
    done = client.post(f"/profile/tokens/{token.id}/revoke", data={"csrf_token": csrf_from(page.text)})
    assert done.status_code == 302
    for path in ("/api/v1/tickets", "/api/v1/kb/search?q=report"):
        refused = client.get(path, headers=bearer(plain))
        assert refused.status_code == 401 and refused.json["error"]["code"] == "unauthorized", path
    assert "revoked" in client.get("/api/v1/tickets", headers=bearer(plain)).json["error"]["message"]
    [entry] = audit_rows("token.revoked")
    assert entry.actor_id == user.id and entry.target_id == str(token.id)
    assert f'id="token-{token.id}"' not in client.get("/profile").text

    # Someone else's token is "not found", and stays usable.
    other = make_user("customer")
    _theirs, their_plain = accounts.create_api_token(other, "theirs")
    db.session.commit()
    theirs = db.session.scalar(select(ApiToken).where(ApiToken.user_id == other.id))
    assert (
        client.post(f"/profile/tokens/{theirs.id}/revoke", data={"csrf_token": csrf_token(client)}).status_code == 404
    )
    assert client.get("/api/v1/tickets", headers=bearer(their_plain)).status_code == 200


def test_an_expired_token_is_refused(client, make_user, clock):
    user = make_user("customer")
    _token, plain = accounts.create_api_token(user, "short", scope="read", days=1)
    db.session.commit()
    clock.shift(timedelta(days=1) - timedelta(seconds=1))
    assert client.get("/api/v1/tickets", headers=bearer(plain)).status_code == 200
    clock.shift(timedelta(seconds=1))
    for path in ("/api/v1/tickets", "/api/v1/kb/search?q=report"):
        refused = client.get(path, headers=bearer(plain))
        assert refused.status_code == 401 and refused.json["error"]["code"] == "unauthorized", path
    assert "expired" in client.get("/api/v1/tickets", headers=bearer(plain)).json["error"]["message"]
    login(client, user)
    row = re.search(r'<tr id="token-\d+">.*?</tr>', client.get("/profile").text, re.S).group(0)
    assert "short" in row and "(expired)" in row


def test_last_used_is_recorded_and_shown(client, make_user, clock):
    user = make_user("customer")
    token, plain = accounts.create_api_token(user, "script")
    db.session.commit()
    clock.shift(timedelta(minutes=10))
    client.get("/api/v1/tickets", headers=bearer(plain))
    db.session.rollback()
    assert db.session.get(ApiToken, token.id).last_used_at == T0 + timedelta(minutes=10)
    login(client, user)
    row = re.search(rf'<tr id="token-{token.id}">.*?</tr>', client.get("/profile").text, re.S).group(0)
    assert "2026-03-02 09:10 UTC" in row
