from tests.conftest import login


def test_healthz_reports_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["database"]["status"] == "ok"


def test_customer_and_agent_pages_render(client, app, make_org, make_user, make_ticket):
    org = make_org()
    customer = make_user("customer", organization=org)
    agent = make_user("agent")
    ticket = make_ticket(customer)
    assert login(client, customer).status_code == 302
    for path in (
        "/portal/",
        "/portal/tickets",
        "/portal/tickets/new",
        f"/portal/tickets/{ticket.reference}",
        "/profile",
    ):
        assert client.get(path).status_code == 200, path
    client.post(
        "/logout", data={"csrf_token": __import__("tests.conftest", fromlist=["csrf_token"]).csrf_token(client)}
    )
    assert login(client, agent).status_code == 302
    for path in ("/agent/queue", "/agent/queue/counts", f"/agent/tickets/{ticket.reference}"):
        assert client.get(path).status_code == 200, path
