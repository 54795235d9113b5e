"""Sign in, sign up, passwords, time zones."""

from datetime import UTC, datetime

from portal.extensions import db
from portal.services.accounts import find_user_by_email
from tests.conftest import PASSWORD, csrf_from, csrf_token, login


def signup(client, email, password="a-long-password", name="New Person", zone="UTC"):
    page = client.get("/signup")
    return client.post(
        "/signup",
        data={"name": name, "email": email, "password": password, "timezone": zone, "csrf_token": csrf_from(page.text)},
    )


def test_login_and_logout(client, make_user):
    user = make_user("customer")
    response = login(client, user)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/portal/").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf_token(client)}).status_code == 302
    assert client.get("/portal/").status_code == 302


def test_passwords_are_hashed_slowly_and_salted(make_user):
    a, b = make_user("customer"), make_user("customer")
    assert a.password_hash.startswith("scrypt:") and a.password_hash != b.password_hash
    assert PASSWORD not in a.password_hash


def test_login_does_not_reveal_whether_email_exists(client, make_user):
    user = make_user("customer")
    wrong_password = login(client, user, "not-the-password")
    unknown_email = login(client, "nobody@example.test", "not-the-password")
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert "Invalid email or password." in wrong_password.text and "Invalid email or password." in unknown_email.text


def test_login_next_parameter_only_redirects_locally(client, make_user):
    user = make_user("customer")
    page = client.get("/login")
    response = client.post(
        "/login?next=https://evil.example/",
        data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_from(page.text)},
    )
    assert response.headers["Location"] == "/"


# Sign-up, address verification and organization joins: tests/test_account_flows.py.


def test_signup_validation_errors(client):
    response = signup(client, "not-an-email", password="short")
    assert response.status_code == 422
    assert "field-error" in response.text
    assert find_user_by_email("not-an-email") is None


def test_password_change(client, make_user):
    user = make_user("agent")
    login(client, user)
    token = csrf_token(client)
    bad = client.post(
        "/profile/password",
        data={
            "csrf_token": token,
            "current_password": "wrong-one",
            "new_password": "brand-new-password",
            "confirm": "brand-new-password",
        },
    )
    assert bad.status_code == 422 and "not your current password" in bad.text
    ok = client.post(
        "/profile/password",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "new_password": "brand-new-password",
            "confirm": "brand-new-password",
        },
    )
    assert ok.status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert login(client, user, PASSWORD).status_code == 401
    assert login(client, user, "brand-new-password").status_code == 302


def test_times_show_in_the_viewers_zone(client, make_user, make_org, make_ticket):
    org = make_org()
    customer = make_user("customer", organization=org, timezone="Asia/Tokyo")
    ticket = make_ticket(customer)
    ticket.created_at = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    db.session.commit()
    login(client, customer)
    page = client.get(f"/portal/tickets/{ticket.reference}").text
    assert "2026-03-29 09:30 JST" in page and 'datetime="2026-03-29T00:30:00+00:00"' in page
    token = csrf_token(client)
    client.post("/profile", data={"csrf_token": token, "name": customer.name, "timezone": "Europe/London"})
    assert "2026-03-29 00:30 GMT" in client.get(f"/portal/tickets/{ticket.reference}").text
    bad = client.post("/profile", data={"csrf_token": token, "name": customer.name, "timezone": "Mars/Olympus"})
    assert bad.status_code == 422 and "Unknown time zone" in bad.text


def test_profile_creates_and_revokes_api_tokens(client, make_user):
    user = make_user("customer")
    login(client, user)
    page = client.post("/profile/tokens", data={"csrf_token": csrf_token(client), "name": "support button"})
    token = page.text.split('id="new-token">')[1].split("<")[0]
    assert client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    from portal.models import ApiToken

    token_id = db.session.scalar(db.select(ApiToken.id).where(ApiToken.user_id == user.id))
    client.post(f"/profile/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(client)})
    assert client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"}).status_code == 401
