"""JSON API v1: tokens, scoping, validation, errors, versions."""

import pytest

from portal.extensions import db
from portal.services.accounts import create_api_token


@pytest.fixture
def api(client, make_org, make_user):
    org = make_org("Demo", "demo.test")
    users = {
        "customer": make_user("customer", organization=org),
        "agent": make_user("agent"),
        "other": make_user("customer", organization=make_org("Acme", "acme.test")),
    }
    tokens = {}
    for key, user in users.items():
        _, plain = create_api_token(user)
        tokens[key] = {"Authorization": f"Bearer {plain}"}
    db.session.commit()
    return client, users, tokens


def new_ticket(client, headers, **overrides):
    body = {
        "subject": "GRI report empty",
        "description": "The GRI 305 report shows no data.",
        "category": "data",
        "priority": "medium",
        **overrides,
    }
    return client.post("/api/v1/tickets", json=body, headers=headers)


def test_requires_a_valid_token(client):
    for headers in ({}, {"Authorization": "Bearer esg_wrong"}, {"Authorization": "Basic abc"}):
        response = client.get("/api/v1/tickets", headers=headers)
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"


def test_session_cookie_does_not_authenticate_the_api(client, make_user):
    from tests.conftest import login

    login(client, make_user("agent"))
    assert client.get("/api/v1/tickets").status_code == 401


def test_create_get_list_reply_patch(api):
    client, users, tokens = api
    created = new_ticket(client, tokens["customer"])
    assert created.status_code == 201
    ticket = created.json["ticket"]
    assert ticket["reference"].startswith("ESG-") and ticket["status"] == "new" and ticket["channel"] == "api"
    assert created.headers["Location"].endswith(ticket["reference"])
    ref = ticket["reference"]

    listing = client.get("/api/v1/tickets?per_page=10", headers=tokens["customer"]).json
    assert [t["reference"] for t in listing["tickets"]] == [ref] and listing["has_next"] is False

    reply = client.post(f"/api/v1/tickets/{ref}/replies", json={"body": "Looking at it now."}, headers=tokens["agent"])
    assert reply.status_code == 201 and reply.json["event"]["kind"] == "public_reply"
    note = client.post(
        f"/api/v1/tickets/{ref}/replies", json={"body": "check ETL", "internal": True}, headers=tokens["agent"]
    )
    assert note.status_code == 201 and note.json["event"]["internal"] is True

    detail = client.get(f"/api/v1/tickets/{ref}", headers=tokens["agent"]).json
    version = detail["ticket"]["version"]
    patched = client.patch(
        f"/api/v1/tickets/{ref}",
        json={"version": version, "priority": "high", "tier": "L2", "assignee": users["agent"].id},
        headers=tokens["agent"],
    )
    assert patched.status_code == 200
    assert patched.json["ticket"]["priority"] == "high" and patched.json["ticket"]["version"] == version + 1
    assert {c["field"] for c in patched.json["changes"]} == {"priority", "tier", "assignee"}

    customer_view = client.get(f"/api/v1/tickets/{ref}", headers=tokens["customer"]).json
    assert [e["kind"] for e in customer_view["events"]].count("internal_note") == 0


def test_stale_version_gets_409(api):
    client, users, tokens = api
    ref = new_ticket(client, tokens["customer"]).json["ticket"]["reference"]
    first = client.patch(f"/api/v1/tickets/{ref}", json={"version": 1, "status": "open"}, headers=tokens["agent"])
    assert first.status_code == 200
    second = client.patch(f"/api/v1/tickets/{ref}", json={"version": 1, "priority": "low"}, headers=tokens["agent"])
    assert second.status_code == 409
    assert second.json["error"]["code"] == "version_conflict" and "version" in second.json["error"]["fields"]
    assert client.get(f"/api/v1/tickets/{ref}", headers=tokens["agent"]).json["ticket"]["priority"] == "medium"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"priority": "high"}, 422, "version"),
        ({"version": "2", "priority": "high"}, 422, "version"),
        ({"version": 1, "priority": "urgent"}, 422, "priority"),
        ({"version": 1, "status": "closed"}, 422, "status"),
        ({"version": 1, "subject": "renamed"}, 422, "subject"),
        ({"version": 1, "assignee": 99999}, 422, "assignee"),
    ],
)
def test_patch_validation(api, body, status, field):
    client, users, tokens = api
    ref = new_ticket(client, tokens["customer"]).json["ticket"]["reference"]
    response = client.patch(f"/api/v1/tickets/{ref}", json=body, headers=tokens["agent"])
    assert response.status_code == status
    assert field in response.json["error"]["fields"]


def test_create_validation_and_bad_bodies(api):
    client, users, tokens = api
    response = new_ticket(client, tokens["customer"], subject="", category="nope")
    assert response.status_code == 422 and {"subject", "category"} <= set(response.json["error"]["fields"])
    response = client.post(
        "/api/v1/tickets", data="not json", headers={**tokens["customer"], "Content-Type": "text/plain"}
    )
    assert response.status_code == 422 and response.json["error"]["code"] == "validation_failed"
    response = client.post("/api/v1/tickets", json=["a list"], headers=tokens["customer"])
    assert response.status_code == 422
    response = new_ticket(client, tokens["customer"], assignee=1)
    assert response.status_code == 422 and "assignee" in response.json["error"]["fields"]
    assert client.get("/api/v1/tickets?status=bogus", headers=tokens["customer"]).status_code == 422
    assert client.get("/api/v1/tickets/ESG-999999", headers=tokens["customer"]).status_code == 404
    assert client.get("/api/v1/tickets/garbage", headers=tokens["customer"]).status_code == 404
    assert client.delete("/api/v1/tickets/ESG-000001", headers=tokens["customer"]).status_code == 405


def test_staff_can_file_on_behalf_of_a_customer(api):
    client, users, tokens = api
    response = new_ticket(client, tokens["agent"], requester_email=users["customer"].email, channel="phone")
    assert response.status_code == 201
    ticket = response.json["ticket"]
    assert ticket["requester"]["email"] == users["customer"].email and ticket["channel"] == "phone"
    assert ticket["organization"]["name"] == "Demo"
    response = new_ticket(client, tokens["customer"], requester_email=users["other"].email)
    assert response.status_code == 422


def test_listing_is_paged_and_scoped(api):
    client, users, tokens = api
    for i in range(5):
        new_ticket(client, tokens["customer"], subject=f"Ticket {i}")
    new_ticket(client, tokens["other"], subject="Acme's")
    page1 = client.get("/api/v1/tickets?per_page=2", headers=tokens["customer"]).json
    page3 = client.get("/api/v1/tickets?per_page=2&page=3", headers=tokens["customer"]).json
    assert len(page1["tickets"]) == 2 and page1["has_next"] is True
    assert len(page3["tickets"]) == 1 and page3["has_next"] is False
    agent_view = client.get("/api/v1/tickets?per_page=100", headers=tokens["agent"]).json
    assert len(agent_view["tickets"]) == 6


def test_cli_prints_a_working_token(runner, client, make_user):
    user = make_user("agent", email="cli.agent@support.test")
    result = runner.invoke(args=["users", "token", user.email])
    assert result.exit_code == 0
    token = result.stdout.strip()
    assert client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert runner.invoke(args=["users", "token", "nobody@example.test"]).exit_code != 0


def test_cli_token_with_read_scope_and_a_life(runner, client, make_user):
    user = make_user("agent", email="cli.reader@support.test")
    result = runner.invoke(args=["users", "token", user.email, "--scope", "read", "--days", "7"])
    assert result.exit_code == 0 and "read token, expires" in result.stderr
    headers = {"Authorization": f"Bearer {result.stdout.strip()}"}
    assert client.get("/api/v1/tickets", headers=headers).status_code == 200
    body = {"subject": "From a script", "description": "Read tokens cannot file tickets.", "category": "data"}
    assert client.post("/api/v1/tickets", json=body, headers=headers).status_code == 403
    too_long = runner.invoke(args=["users", "token", user.email, "--days", "100000"])
    assert too_long.exit_code != 0 and "days" in too_long.output.lower()


def test_oversized_and_unknown_requests_get_json_errors(api, app):
    client, users, tokens = api
    response = client.post(
        "/api/v1/tickets",
        data="x" * (app.config["MAX_CONTENT_LENGTH"] + 1),
        headers={**tokens["customer"], "Content-Type": "application/json"},
    )
    assert response.status_code == 413 and response.json["error"]["code"] == "too_large"
    missing = client.get("/api/v1/nothing-here", headers=tokens["customer"])
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"


def test_pages_send_a_content_security_policy(client):
    policy = client.get("/login").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
