"""The agent queue's rows: what each cell shows, and that one built statement serves every agent (the actor's id and
tier are parameters of the query, never left over from the agent who asked first)."""

import os
import re

import pytest
from markupsafe import escape
from sqlalchemy import event

from portal.extensions import db
from portal.models import Tier
from portal.services import queries
from tests.conftest import login

HX = {"HX-Request": "true"}


def _references(html: str) -> list[str]:
    return re.findall(r">(ESG-\d{6})</a></td>", html)


def test_mine_and_tier_views_are_the_signed_in_agents_own(app, make_org, make_user, make_ticket):
    customer = make_user("customer", organization=make_org())
    alice, bob = make_user("agent", name="Alice Agent"), make_user("senior_agent", name="Bob Senior")
    for_alice, for_bob = make_ticket(customer, subject="For Alice"), make_ticket(customer, subject="For Bob")
    escalated = make_ticket(customer, subject="Escalated")
    for_alice.assignee_id, for_bob.assignee_id, escalated.tier = alice.id, bob.id, Tier.l2
    db.session.commit()

    seen = {}
    for agent in (alice, bob, alice):  # the second visit of Alice reuses the statements built for Bob
        client = app.test_client()
        login(client, agent)
        mine = _references(client.get("/agent/queue?view=mine", headers=HX).text)
        tier = _references(client.get("/agent/queue?view=tier", headers=HX).text)
        seen.setdefault(agent.name, []).append((mine, tier))
    assert seen["Alice Agent"][0] == seen["Alice Agent"][1]
    (alice_mine, alice_tier), (bob_mine, bob_tier) = seen["Alice Agent"][0], seen["Bob Senior"][0]
    assert alice_mine == [for_alice.reference] and bob_mine == [for_bob.reference]
    assert escalated.reference in bob_tier and escalated.reference not in alice_tier
    assert for_alice.reference in alice_tier and for_alice.reference not in bob_tier


def test_a_row_shows_the_tickets_names_labels_badge_and_time(client, make_org, make_user, make_ticket):
    org = make_org("Northwind Energy")
    customer = make_user("customer", organization=org, name="Carla Customer")
    agent = make_user("agent", name="Alice Agent", timezone="Europe/Berlin")
    assigned = make_ticket(customer, subject="Scope 2 <totals> wrong", category="data", priority="high")
    assigned.assignee_id = agent.id
    db.session.commit()
    login(client, agent)

    html = client.get("/agent/queue?view=open", headers=HX).text
    row = re.search(rf"<tr>\s*<td><a href=\"/agent/tickets/{assigned.reference}\">.*?</tr>", html, re.S).group(0)
    cells = re.findall(r"<td>(.*?)</td>", row, re.S)
    assert cells[1] == "Scope 2 &lt;totals&gt; wrong"  # user text stays escaped
    assert cells[2] == '<span class="badge status-new">New</span>'
    assert cells[3] == '<span class="badge priority-high">High</span>'
    assert cells[4:9] == ["L1", escape(assigned.category.name), org.name, customer.name, agent.name]
    assert 'data-sla="ok"' in cells[9] and "Due in" in cells[9]
    assert re.fullmatch(r'<time datetime="[^"]+" title="[\d-]+ [\d:]+ UTC">[\d-]+ [\d:]+ CES?T</time>', cells[10])


def test_a_row_without_category_or_assignee(client, make_org, make_user, make_ticket):
    customer = make_user("customer", organization=make_org())
    ticket = make_ticket(customer, subject="No category yet")
    ticket.category_id = None
    db.session.commit()
    login(client, make_user("agent"))
    html = client.get("/agent/queue?view=unassigned", headers=HX).text
    row = re.search(rf"{ticket.reference}</a></td>.*?</tr>", html, re.S).group(0)
    cells = re.findall(r"<td>(.*?)</td>", row, re.S)
    assert cells[4] == "—" and cells[7] == "Unassigned"


def test_queue_rows_match_the_ticket_list(app, make_org, make_user, make_ticket):
    """The queue's column SELECT picks the same tickets, in the same order, as the ORM list of the same filters."""
    customer = make_user("customer", organization=make_org())
    agent = make_user("agent")
    tickets = [make_ticket(customer, subject=f"Ticket {i}", priority=("high", "low")[i % 2]) for i in range(7)]
    tickets[2].assignee_id = agent.id
    db.session.commit()
    for args in ({}, {"view": "all", "sort": "oldest"}, {"view": "mine"}, {"view": "open", "priority": "high"}):
        for page in (1, 2):
            f = queries.TicketFilters.from_args(args, views=queries.queue_views(agent))
            expected = [t.id for t in queries.list_tickets(agent, f, page, 3)]
            assert [r.id for r in queries.queue_rows(agent, f, page, 3)] == expected, (args, page)


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"), reason="PostgreSQL run only")
def test_list_statements_carry_their_page_bounds_in_the_sql(app, make_org, make_user, make_ticket):
    """The queue and the customer's list write LIMIT and OFFSET into the statement instead of binding them: a
    prepared statement whose only parameters are the actor, the tier and the instant can be planned once for all
    requests (PostgreSQL takes a bound LIMIT for a tenth of the table and re-plans every execution). SQLite keeps
    them bound: it plans every statement, and better so."""
    customer = make_user("customer", organization=make_org())
    agent = make_user("agent")
    for i in range(5):
        make_ticket(customer, subject=f"Ticket {i}")
    db.session.commit()
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "FROM tickets" in statement and "LIMIT" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        f = queries.TicketFilters.from_args({"view": "all"}, views=queries.queue_views(agent))
        assert len(queries.queue_rows(agent, f, 2, 2)) == 3  # a page and one row to tell that more follow
        mine = queries.TicketFilters.from_args({}, default_view="org")
        assert len(queries.list_tickets(customer, mine, 2, 2)) == 3
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert len(seen) == 2
    for statement in seen:
        sql = " ".join(statement.split())
        assert "LIMIT 3 OFFSET 2" in sql and "LIMIT 5" in sql, sql
        assert not re.search(r"(LIMIT|OFFSET) %\(", sql), sql
