"""The managers' at-risk count and the customers' home counts read from counters the ticket triggers keep: exact at
every instant (before, at and after the at-risk counter's checkpoint) across every kind of ticket write, and read
without counting tickets beyond the checkpoint-to-now range."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, event, func, select, text, update

from portal.demo import seed
from portal.extensions import db
from portal.models import OPEN_STATUSES, Role, Status, Ticket, User
from portal.models.counters import QueueCounter, QueueCounterCheckpoint, QueueCounterDelta
from portal.services import counters, queries, sla_sweep
from portal.services import tickets as svc
from portal.services.access import visible_tickets

NOW = datetime(2026, 4, 7, 10, 0, tzinfo=UTC)  # a Tuesday, EMEA on shift
OFFSETS = [timedelta(hours=h) for h in (-30, -2, 0, 1, 5, 26, 80)]


@pytest.fixture
def desk(monkeypatch):
    clock = {"now": NOW}
    monkeypatch.setattr(svc, "utcnow", lambda: clock["now"])
    monkeypatch.setattr(queries, "utcnow", lambda: clock["now"])
    seed(echo=lambda *_: None)
    counters.advance_checkpoint(NOW)  # the job's first run: the checkpoint row appears
    db.session.commit()
    people = {u.email: u for u in db.session.scalars(select(User))}
    staff = [u for u in people.values() if u.role is not Role.customer]
    return clock, people, staff


def _direct_at_risk(now) -> int:
    return db.session.scalar(select(func.count()).where(queries.at_risk_condition(now)))


def assert_at_risk_exact(clock, manager) -> None:
    """At instants before, at and after the checkpoint, the count equals a count of ``at_risk_condition``."""
    db.session.flush()
    assert counters.mismatches() == {}
    checkpoint = counters.checkpoint()
    for base in (checkpoint, NOW):
        for offset in OFFSETS:
            instant = base + offset
            assert counters.at_risk_count(instant) == _direct_at_risk(instant), instant
    clock["now"] = checkpoint + timedelta(minutes=7)
    assert queries.queue_counts(manager)["at_risk"] == _direct_at_risk(clock["now"])
    clock["now"] = NOW


def _direct_customer(actor: User) -> dict[str, int]:
    stmt = visible_tickets(actor, select(func.count(Ticket.id)).select_from(Ticket))
    return {
        "open": db.session.scalar(stmt.where(Ticket.status.in_(OPEN_STATUSES))),
        "solved": db.session.scalar(stmt.where(Ticket.status == Status.solved)),
    }


def assert_customers_exact(people) -> None:
    db.session.flush()
    for person in people.values():
        assert queries.customer_counts(person) == _direct_customer(person), person.email


def _file(people, staff, requester="customer@demo.test", **kw) -> Ticket:
    agent = next(p for p in staff if p.role is Role.agent)
    ticket = svc.create_ticket(
        agent, subject="Totals wrong", description="Scope 2 totals differ.", requester=people[requester], **kw
    )
    db.session.commit()
    return ticket


def test_at_risk_and_customer_counts_stay_exact_across_every_kind_of_ticket_write(desk):
    clock, people, staff = desk
    manager = next(p for p in staff if p.role is Role.manager)
    agent = next(p for p in staff if p.role is Role.agent)
    customer = people["customer@demo.test"]

    def exact():
        assert_at_risk_exact(clock, manager)
        assert_customers_exact(people)

    exact()
    # creates: each priority's clocks put its risk instants at different distances from the checkpoint
    filed = [_file(people, staff, priority=p, category="data") for p in ("low", "medium", "high", "critical")]
    filed.append(_file(people, staff, requester="other@acme.test", priority="high"))
    exact()
    assert _direct_at_risk(NOW + timedelta(hours=5)) > _direct_at_risk(NOW)  # tickets do become at risk later

    # the first public staff reply stops the first-response clock
    t = filed[2]
    svc.reply_to_ticket(agent, t, "Looking into it.")
    db.session.commit()
    assert t.first_response_at is not None
    exact()

    # pauses (pending, on hold) stop the resolution clock; back to open restarts it
    svc.change_status(manager, t, "pending", expected_version=t.version)
    db.session.commit()
    exact()
    svc.change_status(manager, t, "on_hold", expected_version=t.version)
    db.session.commit()
    exact()
    svc.change_status(manager, t, "open", expected_version=t.version)
    db.session.commit()
    exact()

    # priority changes move the risk instants; reassignment changes nothing of them
    u = filed[0]
    svc.change_priority(manager, u, "critical", expected_version=u.version)
    db.session.commit()
    exact()
    svc.assign_ticket(manager, u, agent.id, expected_version=u.version)
    db.session.commit()
    exact()

    # resolution and reopen (the customer's solved count moves too)
    svc.mark_solved(manager, u, expected_version=u.version)
    db.session.commit()
    exact()
    svc.reopen_ticket(manager, u, expected_version=u.version)
    db.session.commit()
    exact()
    svc.mark_solved(manager, filed[1], expected_version=filed[1].version)
    db.session.commit()
    exact()

    # the checkpoint moves forward (the job), then back (a clock set back): the count is the same function of now
    clock["now"] = NOW + timedelta(hours=6)
    assert counters.advance_checkpoint(NOW + timedelta(hours=6)) > 0
    db.session.commit()
    clock["now"] = NOW
    exact()
    counters.advance_checkpoint(NOW - timedelta(hours=1))
    db.session.commit()
    exact()
    counters.advance_checkpoint(NOW + timedelta(hours=2))
    db.session.commit()
    exact()

    # the sweep's escalations, days later (set-based updates of tier, priority and the clocks)
    stats = sla_sweep.run_sweep(NOW + timedelta(days=3))
    db.session.commit()
    assert stats["escalated"] >= 1
    exact()

    # raw SQL, one column at a time: a risk instant moved, the first response recorded, the clock paused, the ticket
    # moved to another organization, to another requester, a status set directly
    v, w = filed[3], filed[4]
    checkpoint = counters.checkpoint()

    def raw(ticket, **values):
        db.session.execute(update(Ticket).where(Ticket.id == ticket.id).values(**values))
        db.session.commit()
        exact()

    raw(v, status=Status.open, first_response_at=None, paused_since=None, resolution_risk_at=None)
    raw(v, first_response_risk_at=NOW - timedelta(days=1))
    at_risk = _direct_at_risk(checkpoint)
    raw(v, first_response_at=NOW)
    assert _direct_at_risk(checkpoint) == at_risk - 1
    raw(v, resolution_risk_at=NOW - timedelta(days=1))
    assert _direct_at_risk(checkpoint) == at_risk
    raw(v, paused_since=NOW)
    assert _direct_at_risk(checkpoint) == at_risk - 1
    acme = people["other@acme.test"].organization_id
    visible = _direct_customer(customer)
    raw(v, organization_id=acme)
    assert _direct_customer(customer) == visible  # still the customer's own ticket
    raw(v, requester_id=people["other@acme.test"].id)
    assert _direct_customer(customer) != visible
    raw(w, organization_id=customer.organization_id)
    raw(w, organization_id=None)
    db.session.execute(text("UPDATE tickets SET status = 'solved' WHERE status = 'on_hold'"))
    db.session.execute(text("UPDATE tickets SET paused_since = created_at WHERE status = 'new'"))
    db.session.commit()
    exact()

    # deletes, and compaction folds the deltas without changing a value
    db.session.execute(delete(Ticket).where(Ticket.id.in_([v.id, w.id])))
    db.session.commit()
    exact()
    before = counters.stored()
    assert counters.compact() > 0
    db.session.commit()
    assert counters.stored() == before
    exact()


def test_without_a_checkpoint_row_the_count_is_still_exact(desk):
    """No checkpoint (never advanced, or the row lost): nothing is counted at the checkpoint, every at-risk ticket is
    counted from the indexes, and the next advance creates the row with the counter."""
    clock, people, staff = desk
    manager = next(p for p in staff if p.role is Role.manager)
    counters.recount(NOW)
    db.session.execute(delete(QueueCounterCheckpoint))
    db.session.commit()
    db.session.execute(update(QueueCounter).where(QueueCounter.key == counters.AT_RISK).values(count=0))
    db.session.commit()
    _file(people, staff, priority="critical")  # counted at no instant: nothing
    assert counters.checkpoint() is None
    assert counters.at_risk_count(NOW + timedelta(hours=3)) == _direct_at_risk(NOW + timedelta(hours=3)) > 0
    db.session.execute(update(QueueCounter).where(QueueCounter.key == counters.AT_RISK).values(count=7))
    db.session.commit()  # a counter left behind by the lost row: the next advance makes it exact again
    counters.advance_checkpoint(NOW + timedelta(hours=1))
    db.session.commit()
    assert counters.checkpoint() == NOW + timedelta(hours=1)
    assert_at_risk_exact(clock, manager)


def test_reading_the_counts_scans_only_the_range_since_the_checkpoint(desk):
    """The customer's counts read no ticket; the at-risk count reads tickets only as ranges (T, now] of the two
    partial indexes of running clocks — a minute's worth of risk instants, whatever the size of the desk."""
    clock, people, staff = desk
    manager = next(p for p in staff if p.role is Role.manager)
    customer = people["customer@demo.test"]
    clock["now"] = NOW + timedelta(minutes=1)
    statements = []

    def record(_conn, _cursor, statement, parameters, *_args):
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        queries.customer_counts(customer)
        customer_statements = list(statements)
        statements.clear()
        queries.queue_counts(manager)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert customer_statements and not any("FROM tickets" in s for s, _p in customer_statements)
    ticket_reads = [(s, p) for s, p in statements if "FROM tickets" in s]
    assert len(ticket_reads) == 1
    statement, parameters = ticket_reads[0]
    for column in ("first_response_risk_at", "resolution_risk_at"):
        assert f"tickets.{column} >" in statement and f"tickets.{column} <=" in statement
    assert statement.count("FROM tickets") == 2  # the two ranges, nothing else of the tickets
    values = parameters.values() if isinstance(parameters, dict) else parameters
    bounds = sorted(v for v in values if isinstance(v, datetime | str) and str(v).startswith("2026"))
    assert sorted({str(b)[:16] for b in bounds}) == ["2026-04-07 10:00", "2026-04-07 10:01"]  # (T, now]
    if db.engine.dialect.name == "sqlite":  # and the planner walks those ranges (with statistics, as production has)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            try:
                plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
            finally:
                conn.exec_driver_sql("DROP TABLE sqlite_stat1")
                conn.commit()
        on_tickets = [line for line in plan if "tickets" in line and "queue_counter" not in line]
        assert sorted(on_tickets) == [
            "SEARCH tickets USING INDEX ix_tickets_open_fr_risk"
            " (first_response_risk_at>? AND first_response_risk_at<?)",
            "SEARCH tickets USING INDEX ix_tickets_open_res_risk (resolution_risk_at>? AND resolution_risk_at<?)",
        ]


def test_recount_check_catches_a_corrupted_risk_or_customer_counter(desk, runner):
    _clock, people, staff = desk
    customer = people["customer@demo.test"]
    counters.recount(NOW)
    db.session.add(QueueCounterDelta(key=counters.AT_RISK, delta=1))
    db.session.execute(
        update(QueueCounter)
        .where(QueueCounter.key == counters.org_key("open", customer.organization_id))
        .values(count=QueueCounter.count - 1)
    )
    db.session.commit()
    check = runner.invoke(args=["tickets", "recount", "--check"])
    assert check.exit_code == 1
    assert "at_risk: counted" in check.output and f"org_open:{customer.organization_id}: counted" in check.output
    assert "2 counter(s) differ" in check.output
    assert runner.invoke(args=["tickets", "recount"]).exit_code == 0
    db.session.expire_all()
    assert runner.invoke(args=["tickets", "recount", "--check"]).exit_code == 0
    assert queries.customer_counts(customer) == _direct_customer(customer)


def test_advancing_the_checkpoint_waits_for_a_writer_that_read_it(desk):
    """PostgreSQL: a transaction whose trigger read the checkpoint holds it share-locked, so advancing it cannot
    slip between that writer's count and its commit."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    clock, _people, staff = desk
    manager = next(p for p in staff if p.role is Role.manager)
    writer = db.engine.connect()
    try:
        tx = writer.begin()
        writer.execute(
            text(
                "UPDATE tickets SET first_response_risk_at = :at WHERE id = "
                "(SELECT min(id) FROM tickets WHERE status IN ('new', 'open') AND first_response_at IS NULL)"
            ),
            {"at": NOW - timedelta(hours=1)},
        )
        db.session.execute(text("SET LOCAL lock_timeout = '200ms'"))
        with pytest.raises(Exception, match="lock timeout"):
            counters.advance_checkpoint(NOW + timedelta(hours=1))
        db.session.rollback()
        tx.commit()
    finally:
        writer.close()
    counters.advance_checkpoint(NOW + timedelta(hours=1))
    db.session.commit()
    assert_at_risk_exact(clock, manager)


def test_the_compaction_job_moves_the_checkpoint_to_now(desk, monkeypatch):
    from workers import periodic

    clock, people, staff = desk
    manager = next(p for p in staff if p.role is Role.manager)
    _file(people, staff, priority="critical")
    _file(people, staff, priority="high")
    later = NOW + timedelta(hours=4)
    monkeypatch.setattr(periodic, "utcnow", lambda: later)
    assert periodic.counter_compaction() > 0
    db.session.expire_all()
    assert counters.checkpoint() == later
    assert db.session.scalar(select(func.count()).select_from(QueueCounterDelta)) == 0
    assert db.session.scalar(select(QueueCounter.count).where(QueueCounter.key == counters.AT_RISK)) == (
        _direct_at_risk(later)
    )
    assert_at_risk_exact(clock, manager)


def test_a_checkpoint_moved_between_the_two_reads_is_read_again(desk):
    """The job moves T (committing counter and T together) between the count's read of T and its statement: the
    statement sees the new T and runs again with it, instead of adding the range since the old T to the new
    counter."""
    clock, people, staff = desk
    for priority in ("critical", "high", "medium"):
        _file(people, staff, priority=priority)
    moved_to = NOW + timedelta(hours=3)
    done = []

    def job_runs_now(conn, _cursor, statement, *_args):
        if done or "queue_counter_checkpoints" not in statement or "FROM tickets" in statement:
            return
        done.append(True)
        with db.engine.begin() as other:  # another process's job: its own connection and transaction
            before = other.scalar(select(func.count()).where(queries.at_risk_condition(NOW)))
            after = other.scalar(select(func.count()).where(queries.at_risk_condition(moved_to)))
            other.execute(update(QueueCounterCheckpoint).values(at=moved_to))
            other.execute(QueueCounterDelta.__table__.insert(), {"key": counters.AT_RISK, "delta": after - before})

    instant = NOW + timedelta(hours=1)
    event.listen(db.engine, "after_cursor_execute", job_runs_now)
    try:
        count = counters.at_risk_count(instant)
    finally:
        event.remove(db.engine, "after_cursor_execute", job_runs_now)
    assert done and counters.checkpoint() == moved_to
    assert _direct_at_risk(moved_to) > _direct_at_risk(instant)  # the two readings would differ
    assert count == _direct_at_risk(instant)
