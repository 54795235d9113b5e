"""Agent workspace: inline htmx edits with out-of-band swaps, 409 on a stale version, replies, the queue."""

import re

import pytest
from sqlalchemy import event

from portal.extensions import db
from portal.models import Status, Ticket
from tests.conftest import csrf_token, login

HX = {"HX-Request": "true"}


@pytest.fixture
def setup(client, make_org, make_user, make_ticket):
    org = make_org("Demo", "demo.test")
    customer = make_user("customer", organization=org)
    agent = make_user("agent", name="Alice Agent")
    ticket = make_ticket(customer, subject="SAP sync broken")
    login(client, agent)
    return client, agent, ticket, csrf_token(client)


def test_inline_status_change_swaps_parts(setup):
    client, agent, ticket, token = setup
    response = client.post(
        f"/agent/tickets/{ticket.reference}/fields",
        headers={**HX, "X-CSRFToken": token},
        data={"version": 1, "status": "pending"},
    )
    assert response.status_code == 200
    html = response.text
    assert html.lstrip().startswith('<aside class="sidebar" id="properties"')  # the swapped target
    assert 'id="ticket-header"' in html and 'hx-swap-oob="true"' in html  # header refreshed out of band
    assert re.search(r'id="timeline"[^>]*hx-swap-oob="true"', html)
    assert re.search(r'id="queue-counts"[^>]*hx-swap-oob="true"', html)
    assert 'data-version="2"' in html and 'name="version" value="2"' in html
    assert "<html" not in html  # a fragment, not a page
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status is Status.pending


def test_two_sessions_same_version_second_gets_409(setup, app, make_user):
    client, agent, ticket, token = setup
    other = app.test_client()
    login(other, make_user("senior_agent", name="Bob Senior"))
    other_token = csrf_token(other)
    first = other.post(
        f"/agent/tickets/{ticket.reference}/fields",
        headers={**HX, "X-CSRFToken": other_token},
        data={"version": 1, "priority": "high"},
    )
    assert first.status_code == 200
    second = client.post(
        f"/agent/tickets/{ticket.reference}/fields",
        headers={**HX, "X-CSRFToken": token},
        data={"version": 1, "status": "solved"},
    )
    assert second.status_code == 409
    assert "Someone else changed this ticket first" in second.text
    assert "priority medium → high" in second.text  # what changed, by whom
    assert "Bob Senior" in second.text
    assert 'name="version" value="2"' in second.text  # the fresh version, ready for a retry
    db.session.expire_all()
    fresh = db.session.get(Ticket, ticket.id)
    assert fresh.status is Status.new and fresh.priority.value == "high" and fresh.version == 2


def test_invalid_inline_change_is_422_with_message(setup):
    client, agent, ticket, token = setup
    response = client.post(
        f"/agent/tickets/{ticket.reference}/fields",
        headers={**HX, "X-CSRFToken": token},
        data={"version": 1, "status": "closed"},
    )
    assert response.status_code == 422
    assert "Not allowed from New" in response.text


def test_inline_edit_without_htmx_redirects(setup):
    client, agent, ticket, token = setup
    response = client.post(
        f"/agent/tickets/{ticket.reference}/fields", data={"version": 1, "assignee": agent.id, "csrf_token": token}
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).assignee_id == agent.id


def test_reply_and_note_via_htmx(setup):
    client, agent, ticket, token = setup
    response = client.post(
        f"/agent/tickets/{ticket.reference}/replies",
        headers={**HX, "X-CSRFToken": token},
        data={"body": "We restarted the connector."},
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<ol class="timeline" id="timeline"')
    assert "We restarted the connector." in response.text
    assert re.search(r'id="composer"[^>]*hx-swap-oob="true"', response.text)
    note = client.post(
        f"/agent/tickets/{ticket.reference}/replies",
        headers={**HX, "X-CSRFToken": token},
        data={"body": "Customer on legacy plan", "internal": "y", "status": "pending"},
    )
    assert note.status_code == 200 and "Internal note" in note.text
    db.session.expire_all()
    fresh = db.session.get(Ticket, ticket.id)
    assert fresh.status is Status.pending and fresh.first_response_at is not None
    empty = client.post(
        f"/agent/tickets/{ticket.reference}/replies", headers={**HX, "X-CSRFToken": token}, data={"body": "  "}
    )
    assert empty.status_code == 422 and "field-error" in empty.text


def test_queue_views_and_filters(setup, make_ticket, make_user):
    client, agent, ticket, token = setup
    customer = ticket.requester
    urgent = make_ticket(customer, subject="Dashboard outage", priority="high", category="technical")
    client.post(
        f"/agent/tickets/{urgent.reference}/fields",
        headers={**HX, "X-CSRFToken": token},
        data={"version": 1, "assignee": agent.id},
    )
    mine = client.get("/agent/queue?view=mine").text
    assert urgent.reference in mine and ticket.reference not in mine
    unassigned = client.get("/agent/queue?view=unassigned").text
    assert ticket.reference in unassigned and urgent.reference not in unassigned
    by_priority = client.get("/agent/queue?view=open&priority=high", headers=HX)
    assert urgent.reference in by_priority.text and ticket.reference not in by_priority.text
    assert "<html" not in by_priority.text and by_priority.headers["Vary"].count("HX-Request")
    assert ticket.reference in client.get("/agent/queue?q=sap+SYNC").text
    assert urgent.reference not in client.get("/agent/queue?q=sap").text
    assert urgent.reference in client.get(f"/agent/queue?q={urgent.reference}").text
    counts = client.get("/agent/queue/counts").text
    assert 'data-count="mine">(1)' in counts and 'data-count="unassigned">(1)' in counts
    assert client.get("/agent/queue?status=bogus&page=abc").status_code == 200


def _count_queries(fn):
    statements = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return statements


def test_queue_page_runs_constant_number_of_queries(setup, app, make_user, make_ticket, monkeypatch):
    client, agent, ticket, token = setup
    # The open-incidents cache (a few seconds) must not expire between the two measured requests on a slow machine.
    from portal.services.incidents import core as incidents

    monkeypatch.setattr(incidents, "OPEN_CACHE_SECONDS", 3600.0)
    customers = [make_user("customer", organization=ticket.organization) for _ in range(3)]
    staff = [make_user("agent") for _ in range(3)]
    for i in range(60):
        t = make_ticket(customers[i % 3], subject=f"Ticket {i}", category=["data", "technical", "account"][i % 3])
        t.assignee_id = staff[i % 3].id
    db.session.commit()

    def fetch(size):
        app.config["QUEUE_PAGE_SIZE"] = size
        try:
            statements = _count_queries(lambda: client.get("/agent/queue?view=all"))
        finally:
            app.config["QUEUE_PAGE_SIZE"] = 50
        # The session's last-seen touch (at most once a minute) is not part of the page's work: on a slow machine the
        # ticket set-up above can take longer than that, and the first request would carry one more statement.
        return [s for s in statements if not s.lstrip().upper().startswith("UPDATE USER_SESSIONS")]

    fetch(5)  # warm: the caches a first request fills
    small, large = fetch(5), fetch(50)
    assert len(small) == len(large), (small, large)
    assert len(large) <= 8


def test_queue_badges_read_the_policies_of_a_page_in_one_query(setup, app, make_org, make_user, make_ticket):
    """A clock past its due instant reads its organization's policy for the badge: the page reads the policies of
    all its organizations at once, however many organizations the page shows."""
    from datetime import timedelta

    from portal.models import utcnow

    client, agent, ticket, token = setup
    for i in range(12):
        customer = make_user("customer", organization=make_org(f"Org {i}"))
        overdue = make_ticket(customer, subject=f"Overdue {i}")
        overdue.first_response_due = utcnow() - timedelta(hours=1)
    db.session.commit()
    client.get("/agent/queue?view=all")
    statements = _count_queries(lambda: client.get("/agent/queue?view=all"))
    policy_reads = [s for s in statements if "FROM sla_policies" in s]
    assert len(policy_reads) == 1, policy_reads
    page = client.get("/agent/queue?view=all").text
    assert all(f"Overdue {i}" in page for i in range(12))
