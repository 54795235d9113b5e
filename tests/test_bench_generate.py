"""The benchmark generator makes data the portal itself would have made: every ticket's SLA columns and recorded
crossings are what ``portal.services.sla.refresh`` computes from the generated history, open tickets all have their
clocks, and the data does not depend on how many processes generated it."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bench import generate
from portal import create_app
from portal.extensions import db
from portal.models import OPEN_STATUSES, SlaEvent, Ticket
from portal.services import sla
from portal.services.sla_sweep import run_sweep

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
COLUMNS = [c for c in generate.TICKET_COLUMNS if c not in ("id",)] + ["sla_check_at"]  # the last one: sla_checks


def _generate(path, *extra: str) -> str:
    url = f"sqlite:///{path}"
    generate.main(
        ["--tickets", "600", "--orgs", "6", "--days", "5", "--batch", "150", "--database-url", url]
        + ["--now", NOW.isoformat(), *extra]
    )
    return url


@pytest.fixture
def generated(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "development")
    return _generate(tmp_path / "gen.db", "--workers", "2", "--sweep-backlog-minutes", "120")


def _portal(url):
    # rate limits off: the limiter extension is shared by every app of this process (enabling it here would
    # enable it for the tests that run after this one in the same worker)
    config = {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "generator-test", "TESTING": True}
    return create_app(config | {"RATELIMIT_ENABLED": False})


def test_generated_clocks_are_the_engines_own(generated):
    cutoff = NOW - timedelta(hours=2)  # --sweep-backlog-minutes 120
    portal = _portal(generated)
    with portal.app_context(), db.session.no_autoflush:
        tickets = db.session.scalars(select(Ticket).where(Ticket.id > 36).order_by(Ticket.id)).all()
        assert len(tickets) == 600
        open_tickets = [t for t in tickets if t.status in OPEN_STATUSES]
        assert open_tickets  # every open ticket's clocks are set: running with a due time, paused, or decided
        assert all(t.resolution_due or t.paused_since or t.resolution_decided_at for t in open_tickets)
        assert all(t.first_response_due or t.first_response_decided_at for t in open_tickets)
        assert all(t.next_due_at or t.paused_since or t.resolution_decided_at for t in open_tickets)
        assert {t.status.value for t in tickets} >= {"new", "open", "pending", "solved", "closed"}
        recorded: dict[int, set] = {}
        for e in db.session.scalars(select(SlaEvent).where(SlaEvent.ticket_id > 36)):
            recorded.setdefault(e.ticket_id, set()).add((e.target, e.kind, e.at, e.due_at))
        left_for_the_sweep = 0
        for ticket in tickets:
            stored = {c: getattr(ticket, c) for c in COLUMNS}
            mine = recorded.get(ticket.id, set())
            # The crossings a sweep running until the cutoff, and every change to the ticket, would have recorded.
            facts = sla.evaluate(ticket, NOW)
            lived = {
                (target, kind, at, fact.due)
                for target, fact in ((sla.FR, facts.first_response), (sla.RES, facts.resolution))
                for kind, at in ((sla.AT_RISK, fact.risk_reached_at), (sla.BREACHED, fact.breached_at))
                if at is not None and at <= max(cutoff, ticket.updated_at)  # the sweep, or the last change, saw it
            }
            assert mine == lived, ticket.id
            # The sweep's next look: the first threshold of a running clock not recorded yet (a crossing of the
            # backlog is in the past: the sweep finds it at once).
            recorded_keys = {(t, k) for t, k, _, _ in mine}
            next_check = min(
                (
                    at
                    for target, fact in ((sla.FR, facts.first_response), (sla.RES, facts.resolution))
                    if fact.ticking
                    for kind, at in ((sla.AT_RISK, fact.risk_at), (sla.BREACHED, fact.due))
                    if at is not None and (target, kind) not in recorded_keys
                ),
                default=None,
            )
            assert stored["sla_check_at"] == next_check, ticket.id
            # Every other column is what the services write to the ticket.
            crossed = sla.refresh(ticket, NOW, notify=False, recorded=set(recorded_keys))
            after = {c: getattr(ticket, c) for c in COLUMNS if c != "sla_check_at"}
            assert after == {c: v for c, v in stored.items() if c != "sla_check_at"}, ticket.id
            left_for_the_sweep += len(crossed)
        db.session.rollback()
    assert left_for_the_sweep > 0  # the last two hours' crossings are the sweep's backlog

    # The sweep, run at the generator's "now", records exactly that backlog, and nothing more on a second run.
    with portal.app_context():
        before = db.session.scalar(select(func.count()).select_from(SlaEvent))
        stats = run_sweep(NOW)
        db.session.commit()
        assert stats["at_risk"] + stats["breached"] == left_for_the_sweep
        assert db.session.scalar(select(func.count()).select_from(SlaEvent)) == before + left_for_the_sweep
        assert run_sweep(NOW)["checked"] == 0


def test_every_history_is_consistent_with_its_ticket(generated):
    from portal.models import TicketEvent

    portal = _portal(generated)
    with portal.app_context():
        history: dict[int, list] = {}
        for e in db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id > 36).order_by(TicketEvent.id)):
            history.setdefault(e.ticket_id, []).append(e)
        for ticket in db.session.scalars(select(Ticket).where(Ticket.id > 36)):
            events = history[ticket.id]
            assert events[0].kind.value == "created" and events[0].created_at == ticket.created_at
            assert [e.ticket_version for e in events] == list(range(1, ticket.version + 1))
            assert [e.created_at for e in events] == sorted(e.created_at for e in events)
            assert events[-1].created_at == ticket.updated_at <= NOW
            statuses = [e.new_value for e in events if e.field == "status"]
            last = statuses[-1] if statuses else ("open" if ticket.first_response_at else "new")
            assert last == ticket.status.value or (last == "open" and ticket.status.value == "open")
            assert (ticket.first_response_at is None) == (ticket.status.value == "new")
            assert (ticket.solved_at is not None) == (ticket.status.value in ("solved", "closed"))


def test_the_same_data_from_one_process_or_two(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "development")
    one = _generate(tmp_path / "one.db", "--workers", "1")
    two = _generate(tmp_path / "two.db", "--workers", "2")

    def dump(url):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return (
                conn.execute("SELECT * FROM tickets WHERE id > 36 ORDER BY id").fetchall(),
                conn.execute("SELECT * FROM ticket_events WHERE ticket_id > 36 ORDER BY id").fetchall(),
                conn.execute("SELECT * FROM sla_events WHERE ticket_id > 36 ORDER BY id").fetchall(),
            )

    first, second = dump(one), dump(two)
    assert len(first[0]) == 600 and first == second


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"), reason="PostgreSQL run only")
def test_the_same_data_on_postgresql(tmp_path, monkeypatch):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    monkeypatch.setenv("PORTAL_ENV", "development")
    base = make_url("postgresql+psycopg://" + os.environ["TEST_DATABASE_URL"].split("://", 1)[1])
    name = f"{base.database}_generate_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    pg_url = base.set(database=name).render_as_string(hide_password=False)
    try:
        sqlite_url = _generate(tmp_path / "gen.db")
        generate.main(
            ["--tickets", "600", "--orgs", "6", "--days", "5", "--batch", "150", "--database-url", pg_url]
            + ["--now", NOW.isoformat(), "--fresh"]
        )

        def dump(url):
            engine = create_engine(url)
            try:
                with engine.connect() as conn:
                    tickets = conn.execute(select(Ticket.__table__).where(Ticket.id > 36).order_by(Ticket.id)).all()
                    crossings = conn.execute(
                        select(SlaEvent.ticket_id, SlaEvent.target, SlaEvent.kind, SlaEvent.at, SlaEvent.due_at)
                        .where(SlaEvent.ticket_id > 36)
                        .order_by(SlaEvent.id)
                    ).all()
                return [tuple(r) for r in tickets], [tuple(r) for r in crossings]
            finally:
                engine.dispose()

        on_sqlite, on_postgres = dump(sqlite_url), dump(pg_url)
        assert len(on_sqlite[0]) == 600 and on_sqlite == on_postgres
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_open_ticket_counters_are_exact_and_their_triggers_are_back(generated):
    """The bulk load sets the counting triggers aside and recounts once: the counters match the tickets, and a
    change made afterwards is counted again."""
    from portal.services import counters

    portal = _portal(generated)
    with portal.app_context():
        assert counters.mismatches() == {}
        n_open = counters.values([counters.OPEN])[counters.OPEN]
        assert n_open == db.session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.status.in_(list(OPEN_STATUSES)))
        )
        ticket = db.session.scalar(select(Ticket).where(Ticket.status.in_(list(OPEN_STATUSES))).limit(1))
        db.session.execute(Ticket.__table__.update().where(Ticket.id == ticket.id).values(status="solved"))
        assert counters.values([counters.OPEN])[counters.OPEN] == n_open - 1
        assert counters.mismatches() == {}
        db.session.rollback()
