"""Lists ordered by last update walk an index in that order: the database never sorts an organization's history
(the customer home's recent tickets, a customer's list sorted by update) or every ticket (the queue sorted by
update) to show one page."""

from __future__ import annotations

from sqlalchemy import text

from portal.extensions import db
from portal.services.queries import TicketFilters, _page_candidates


def _plan(stmt) -> str:
    sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return " | ".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
        conn.execute(text("SET enable_seqscan = off"))  # a tiny table: ask whether an index *can* be used
        conn.execute(text("SET enable_sort = off"))
        return " | ".join(r[0] for r in conn.execute(text("EXPLAIN " + sql)))


def test_a_customers_tickets_by_last_update_walk_an_index(make_org, make_user, make_ticket):
    customer = make_user("customer", organization=make_org("Acme"))
    make_ticket(customer, subject="One")
    db.session.commit()
    plan = _plan(_page_candidates(customer, TicketFilters(view="org", sort="updated"), window=6))
    assert "ix_tickets_org_updated_id" in plan and "ix_tickets_requester_updated_id" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort " not in plan, plan


def test_the_queue_by_last_update_walks_an_index(make_user, make_ticket):
    agent = make_user("agent")
    make_ticket(make_user("customer"), subject="One")
    db.session.commit()
    plan = _plan(_page_candidates(agent, TicketFilters(view="all", sort="updated"), window=51))
    assert "ix_tickets_updated_id" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort " not in plan, plan
