"""The open-ticket counters behind the queue counts and routing's open loads: exact after every kind of write
(creates, assignments, status changes, escalations by hand and by the sweep, imports, raw SQL, deletes), cheap to
read at any size (no ticket is counted on the read path), repaired by ``flask tickets recount``."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, event, func, select, text, update

from portal.demo import seed
from portal.extensions import db
from portal.models import OPEN_STATUSES, Role, Status, Ticket, Tier, User
from portal.models.counters import QueueCounter, QueueCounterDelta
from portal.services import counters, queries, routing, sla_sweep
from portal.services import tickets as svc
from portal.services.history_import import import_lines

NOW = datetime(2026, 4, 7, 10, 0, tzinfo=UTC)  # a Tuesday, EMEA on shift


@pytest.fixture
def desk(monkeypatch):
    clock = {"now": NOW}
    monkeypatch.setattr(svc, "utcnow", lambda: clock["now"])
    seed(echo=lambda *_: None)
    db.session.commit()
    people = {u.email: u for u in db.session.scalars(select(User))}
    staff = [u for u in people.values() if u.role is not Role.customer]
    return clock, people, staff


def _open(*where) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.status.in_(list(OPEN_STATUSES)), *where)
    )


def assert_exact(staff: list[User]) -> None:
    """Every counter equals a count of the tickets, and so do the queue counts and loads the pages and routing use."""
    db.session.flush()
    assert counters.mismatches() == {}
    for person in staff:
        tier = Tier(person.tier or Tier.l1)
        counts = queries.queue_counts(person)
        assert counts["open"] == _open()
        assert counts["unassigned"] == _open(Ticket.assignee_id.is_(None))
        assert counts["mine"] == _open(Ticket.assignee_id == person.id)
        assert counts["tier"] == _open(Ticket.tier == tier)
    loads = routing.open_loads([p.id for p in staff])
    assert loads == {p.id: _open(Ticket.assignee_id == p.id) for p in staff}


def _file(people, staff, subject="Totals wrong", **kw) -> Ticket:
    """A ticket filed by an agent for the demo customer (as by phone: any priority)."""
    agent = next(p for p in staff if p.role is Role.agent)
    customer = people["customer@demo.test"]
    ticket = svc.create_ticket(agent, subject=subject, description="Scope 2 totals differ.", requester=customer, **kw)
    db.session.commit()
    return ticket


def test_counts_and_loads_stay_exact_across_every_kind_of_ticket_write(desk):
    clock, people, staff = desk
    assert_exact(staff)  # the demo seed wrote through the services: counted by the triggers as it went
    manager = next(p for p in staff if p.role is Role.manager)
    agents = [p for p in staff if p.role is Role.agent]

    # creates (routing assigns to someone on shift, by load)
    filed = [_file(people, staff, priority=p, category="data") for p in ("low", "medium", "high", "critical")]
    assert_exact(staff)
    assert any(t.assignee_id for t in filed)

    # assignments: to someone, to nobody, to someone else
    t = filed[0]
    svc.assign_ticket(manager, t, agents[0].id, expected_version=t.version)
    db.session.commit()
    assert_exact(staff)
    svc.assign_ticket(manager, t, None, expected_version=t.version)
    db.session.commit()
    assert_exact(staff)
    svc.assign_ticket(manager, t, agents[1].id, expected_version=t.version)
    db.session.commit()
    assert_exact(staff)

    # status changes within the open statuses, out of them and back (solved → reopened), closed
    svc.change_status(manager, t, "pending", expected_version=t.version)
    db.session.commit()
    assert_exact(staff)
    svc.mark_solved(manager, t, expected_version=t.version)
    db.session.commit()
    assert_exact(staff)
    svc.reopen_ticket(manager, t, expected_version=t.version)
    db.session.commit()
    assert_exact(staff)
    u = filed[1]
    svc.mark_solved(manager, u, expected_version=u.version)
    svc.change_status(manager, u, "closed", expected_version=u.version)
    db.session.commit()
    assert_exact(staff)

    # a manual escalation moves the ticket to another tier (and routing to a person of it)
    v = filed[2]
    svc.escalate_ticket(manager, v, to_tier=Tier.l2, reason="technical_complexity", expected_version=v.version)
    db.session.commit()
    assert v.tier is Tier.l2
    assert_exact(staff)

    # the sweep's automatic escalations, hours later: breaches move tickets up a tier
    stats = sla_sweep.run_sweep(NOW + timedelta(days=3))
    db.session.commit()
    assert stats["escalated"] >= 1
    assert_exact(staff)

    # an import of another desk's history: open and solved tickets, with assignees
    agent = agents[0]
    lines = [
        {
            "external_id": f"ZD-{n}",
            "subject": f"Imported {n}",
            "description": "From the old desk",
            "priority": "medium",
            "requester": {"email": f"imported{n}@acme.test", "name": f"Imported {n}"},
            "created_at": "2026-04-01T09:00:00Z",
            "events": [{"at": "2026-04-01T09:05:00Z", "type": "assign", "author": agent.email, "to": agent.email}]
            + (
                [{"at": "2026-04-01T10:00:00Z", "type": "status", "author": agent.email, "to": "solved"}]
                if n % 2
                else []
            ),
        }
        for n in range(6)
    ]
    result = import_lines([json.dumps(x) for x in lines], now=NOW)
    db.session.commit()
    assert result.imported == 6
    assert_exact(staff)

    # set-based SQL, as a bulk tool or a future batch path would write it, and deletes
    db.session.execute(update(Ticket).where(Ticket.tier == Tier.l1).values(assignee_id=agents[-1].id))
    db.session.execute(update(Ticket).where(Ticket.status == Status.pending).values(status=Status.on_hold))
    db.session.commit()
    assert_exact(staff)
    db.session.execute(delete(Ticket).where(Ticket.id == filed[3].id))
    db.session.commit()
    assert_exact(staff)

    # folding the deltas into the base rows changes no value
    before = counters.stored()
    assert counters.compact() > 0
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(QueueCounterDelta)) == 0
    assert counters.stored() == before
    assert_exact(staff)


def test_reading_the_counts_counts_no_ticket(desk):
    """The four views' counts and routing's loads are read from the counters: no statement on the read path scans
    the tickets table (what keeps them flat from 10k to 1M tickets). The managers' at-risk count is the one that
    reads tickets, from the partial indexes of the at-risk tickets only."""
    _clock, people, staff = desk
    agent = next(p for p in staff if p.role is Role.agent)
    manager = next(p for p in staff if p.role is Role.manager)
    statements = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        queries.queue_counts(agent)
        routing.open_loads([p.id for p in staff])
        agent_statements = list(statements)
        statements.clear()
        queries.queue_counts(manager)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert agent_statements and not any("FROM tickets" in s for s in agent_statements)
    assert [s for s in statements if "FROM tickets" in s] and all(
        "first_response_risk_at" in s for s in statements if "FROM tickets" in s
    )


def test_recount_repairs_counters_and_check_reports_differences(desk, runner):
    _clock, people, staff = desk
    counters.recount()  # base rows for every counter; then two of them go wrong (a base row and a delta)
    db.session.execute(
        update(QueueCounter).where(QueueCounter.key == counters.OPEN).values(count=QueueCounter.count + 5)
    )
    db.session.add(QueueCounterDelta(key=counters.assignee_key(staff[0].id), delta=-2))
    db.session.commit()
    check = runner.invoke(args=["tickets", "recount", "--check"])
    assert check.exit_code == 1
    assert "open: counted" in check.output and "2 counter(s) differ" in check.output
    repaired = runner.invoke(args=["tickets", "recount"])
    assert repaired.exit_code == 0, repaired.output
    assert f"Recounted: {_open()} open tickets" in repaired.output
    db.session.expire_all()
    assert runner.invoke(args=["tickets", "recount", "--check"]).exit_code == 0
    assert_exact(staff)


def test_ticket_writers_never_wait_on_a_counter_row(desk, app):
    """PostgreSQL: a transaction holding an uncommitted ticket change does not block another writer's change of the
    same counters (deltas are appended, no row is locked), and compaction folds only committed deltas."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    _clock, people, staff = desk
    open_before = counters.values([counters.OPEN])[counters.OPEN]
    first, second = db.engine.connect(), db.engine.connect()
    try:
        tx1 = first.begin()
        first.execute(
            text("UPDATE tickets SET status = 'solved' WHERE id = (SELECT min(id) FROM tickets WHERE status = 'open')")
        )
        tx2 = second.begin()
        second.execute(text("SET LOCAL lock_timeout = '2s'"))
        second.execute(
            text("UPDATE tickets SET status = 'solved' WHERE id = (SELECT max(id) FROM tickets WHERE status = 'open')")
        )
        tx2.commit()  # did not wait for the first
        assert counters.compact() >= 1  # folds the second's deltas; the first's are not visible yet
        db.session.commit()
        tx1.commit()
    finally:
        first.close()
        second.close()
    db.session.expire_all()
    assert counters.values([counters.OPEN])[counters.OPEN] == open_before - 2
    assert_exact(staff)
