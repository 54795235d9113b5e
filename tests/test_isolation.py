"""Organization isolation: another organization's customer gets 404 everywhere; internal notes never reach customers."""

import pytest

from portal.extensions import db
from portal.services import tickets as svc
from portal.services.accounts import create_api_token
from tests.conftest import csrf_token, login

SECRET = "INTERNAL-ONLY: customer is on a legacy contract"


@pytest.fixture
def world(make_org, make_user, make_ticket):
    demo = make_org("Demo Manufacturing", "demo.test")
    acme = make_org("Acme Renewables", "acme.test")
    customer = make_user("customer", organization=demo, email="customer@demo.test")
    colleague = make_user("customer", organization=demo, email="colleague@demo.test")
    other = make_user("customer", organization=acme, email="other@acme.test")
    agent = make_user("agent")
    ticket = make_ticket(customer, subject="Demo's private ticket")
    svc.reply_to_ticket(agent, ticket, SECRET, internal=True)
    svc.reply_to_ticket(agent, ticket, "Public answer for Demo")
    db.session.commit()
    return {"ticket": ticket, "customer": customer, "colleague": colleague, "other": other, "agent": agent}


def token_for(user):
    _, plain = create_api_token(user)
    db.session.commit()
    return {"Authorization": f"Bearer {plain}"}


def test_other_org_gets_404_on_page_and_actions(client, world):
    ref = world["ticket"].reference
    login(client, world["other"])
    token = csrf_token(client)
    assert client.get(f"/portal/tickets/{ref}").status_code == 404
    assert client.get(f"/portal/tickets/{world['ticket'].id}").status_code == 404
    for action in ("replies", "solve", "reopen"):
        response = client.post(f"/portal/tickets/{ref}/{action}", data={"csrf_token": token, "body": "x", "version": 1})
        assert response.status_code == 404, action
    # The agent partials are closed to customers altogether.
    for path in (f"/agent/tickets/{ref}", f"/agent/tickets/{ref}/timeline", "/agent/queue/counts"):
        assert client.get(path).status_code == 403, path
    assert (
        client.post(
            f"/agent/tickets/{ref}/fields", data={"csrf_token": token, "version": 1, "status": "solved"}
        ).status_code
        == 403
    )


def test_other_org_list_filters_never_show_the_ticket(client, world):
    login(client, world["other"])
    for query in (
        "",
        "?status=new",
        "?status=open_any",
        "?view=org",
        "?view=mine_customer",
        "?q=" + world["ticket"].reference,
    ):
        page = client.get("/portal/tickets" + query, headers={"HX-Request": "true"} if query else {})
        assert page.status_code == 200
        assert world["ticket"].reference not in page.text and "Demo&#39;s private ticket" not in page.text


def test_other_org_gets_404_through_the_api(client, world):
    headers = token_for(world["other"])
    ref = world["ticket"].reference
    assert client.get(f"/api/v1/tickets/{ref}", headers=headers).status_code == 404
    assert client.post(f"/api/v1/tickets/{ref}/replies", json={"body": "hi"}, headers=headers).status_code == 404
    assert (
        client.patch(f"/api/v1/tickets/{ref}", json={"version": 1, "status": "solved"}, headers=headers).status_code
        == 404
    )
    listing = client.get("/api/v1/tickets?status=new", headers=headers).json
    assert ref not in [t["reference"] for t in listing["tickets"]]
    body = client.get(f"/api/v1/tickets/{ref}", headers=headers).json
    assert body["error"]["code"] == "not_found"


def test_same_org_colleague_sees_ticket_but_no_internal_note(client, world):
    ref = world["ticket"].reference
    login(client, world["colleague"])
    page = client.get(f"/portal/tickets/{ref}")
    assert page.status_code == 200
    assert "Public answer for Demo" in page.text and SECRET not in page.text
    listing = client.get("/portal/tickets")
    assert ref in listing.text
    api = client.get(f"/api/v1/tickets/{ref}", headers=token_for(world["colleague"])).json
    assert all(SECRET not in (e.get("body") or "") for e in api["events"])
    assert all(e["kind"] != "internal_note" for e in api["events"])
    assert "Public answer for Demo" in [e.get("body") for e in api["events"]]


def test_staff_see_internal_notes(client, world):
    login(client, world["agent"])
    assert SECRET in client.get(f"/agent/tickets/{world['ticket'].reference}").text
    api = client.get(f"/api/v1/tickets/{world['ticket'].reference}", headers=token_for(world["agent"])).json
    assert SECRET in [e.get("body") for e in api["events"]]


def test_customer_cannot_set_staff_fields_through_api(client, world):
    headers = token_for(world["customer"])
    ref = world["ticket"].reference
    for field, value in (("assignee", world["agent"].id), ("tier", "L2"), ("priority", "critical")):
        response = client.patch(
            f"/api/v1/tickets/{ref}", json={"version": world["ticket"].version, field: value}, headers=headers
        )
        assert response.status_code == 403, field
        assert field in response.json["error"]["fields"]
    response = client.patch(
        f"/api/v1/tickets/{ref}", json={"version": world["ticket"].version, "status": "pending"}, headers=headers
    )
    assert response.status_code == 422
    response = client.post(
        "/api/v1/tickets",
        headers=headers,
        json={"subject": "x", "description": "y", "category": "data", "priority": "low", "organization": 99},
    )
    assert response.status_code == 422 and "organization" in response.json["error"]["fields"]
    response = client.post(f"/api/v1/tickets/{ref}/replies", headers=headers, json={"body": "psst", "internal": True})
    assert response.status_code == 403


def test_customer_form_ignores_staff_fields(client, world):
    login(client, world["customer"])
    page = client.get("/portal/tickets/new")
    response = client.post(
        "/portal/tickets/new",
        data={
            "csrf_token": csrf_token(client, "/portal/tickets/new"),
            "subject": "Need help",
            "description": "Details",
            "category": "data",
            "priority": "low",
            "assignee": world["agent"].id,
            "tier": "L2",
            "status": "solved",
            "organization_id": 999,
        },
    )
    assert page.status_code == 200 and response.status_code == 303
    from portal.models import Ticket

    ticket = db.session.scalars(db.select(Ticket).order_by(Ticket.id.desc())).first()
    assert ticket.subject == "Need help"
    assert ticket.assignee_id is None and ticket.tier.value == "L1" and ticket.status.value == "new"
    assert ticket.organization_id == world["customer"].organization_id
    response = client.post(
        "/portal/tickets/new",
        data={
            "csrf_token": csrf_token(client, "/portal/tickets/new"),
            "subject": "Down",
            "description": "Details",
            "category": "data",
            "priority": "critical",
        },
    )
    assert response.status_code == 422


def test_customer_list_is_the_union_of_org_and_own_tickets_paged(client, app, make_org, make_user, make_ticket):
    old_org, new_org = make_org("Old Co", "old.test"), make_org("New Co", "new.test")
    mover = make_user("customer", organization=old_org)
    stranger_old = make_user("customer", organization=old_org)
    colleague_new = make_user("customer", organization=new_org)
    own_old = make_ticket(mover, subject="Filed while at Old Co")
    old_other = make_ticket(stranger_old, subject="Old Co private")
    mover.organization_id = new_org.id
    db.session.commit()
    new_ones = [make_ticket(colleague_new, subject=f"New Co ticket {i}") for i in range(4)]
    login(client, mover)
    app.config["QUEUE_PAGE_SIZE"] = 2
    try:
        pages = [client.get(f"/portal/tickets?page={n}").text for n in (1, 2, 3)]
    finally:
        app.config["QUEUE_PAGE_SIZE"] = 50
    seen = [t.reference for t in new_ones + [own_old] if any(t.reference in p for p in pages)]
    assert len(seen) == 5
    assert all(old_other.reference not in p for p in pages)
    assert "Next page" in pages[0] and "Next page" in pages[1] and "Next page" not in pages[2]
    assert pages[0].index(new_ones[3].reference) < pages[0].index(new_ones[2].reference)  # newest first
