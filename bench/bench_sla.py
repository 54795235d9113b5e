"""SLA sweep and routing decision timings over many open tickets.

    .venv/bin/python bench/bench_sla.py [--tickets 100000] [--database-url sqlite:////tmp/bench_sla.db]

Builds a fresh database with the migrations (SQLite file by default; a PostgreSQL URL works too and is wiped), seeds
the demo team and roster, bulk-inserts N open tickets of the last three days in steady state (every threshold
passed already recorded), then prints: the sweep when nothing is due (the indexed query alone), a steady-state
sweep (two minutes of thresholds crossed, as the every-minute schedule sees it), a one-hour backlog sweep, and the
routing decision time. Each sweep is rolled back so runs measure the same work. Goals: sweep ≤ 500 ms, routing ≤ 5 ms.

    .venv/bin/python bench/bench_sla.py --backlog-db /tmp/b1m.db --now 2026-12-02T21:00:00Z [--one-at-a-time]

Times one sweep over the backlog ``bench/generate.py --sweep-backlog-minutes 60 --now ...`` left in a database (the
crossings of the last hour unrecorded): the database file is copied first, so every run starts from the same backlog
(a PostgreSQL URL is swept in a transaction that is rolled back; with ``--commit`` it is committed and timed with
the commit, which uses the backlog up: sweep a copy, ``createdb -T <generated> <copy>``). The clock stands at
``--now`` plus one second while it runs, as for a sweep that runs on time. ``--one-at-a-time`` times the per-ticket
path for comparison.
Goal: ≤ 3 s for a one-hour backlog (~6,000 crossings) at 1M tickets, e.g. ``generate.py --tickets 1000000 --days 3
--sweep-backlog-minutes 60 --now 2026-12-02T21:00:00Z`` (5,823 tickets due, 1,621 escalations).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


def build(app, n: int) -> None:
    from flask_migrate import upgrade

    from portal.demo import seed
    from portal.extensions import db
    from portal.models import Category, Organization, Role, Ticket, User

    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(revision="heads")
    seed(echo=lambda *_: None)
    db.session.commit()
    customer = db.session.scalar(select(User).where(User.role == Role.customer))
    org_id = db.session.scalar(select(Organization.id))
    categories = list(db.session.scalars(select(Category.id)))
    agents = list(db.session.scalars(select(User.id).where(User.role.in_([Role.agent, Role.senior_agent]))))
    rng = random.Random(7)
    started, batch = time.perf_counter(), []
    from sqlalchemy import func

    from portal.models import EventKind, SlaCheck, SlaEvent, TicketEvent
    from portal.services import sla
    from portal.services.sla_engine import Step, evaluate

    staff = agents[0]
    first_id = (db.session.scalar(select(func.max(Ticket.id))) or 0) + 1
    events, crossings, pending = [], [], []
    for i in range(n):
        # A desk in steady state: tickets filed over the last three days, most answered within minutes, and every
        # threshold already passed recorded (as the every-minute sweep would have) — the engine's own facts at NOW.
        ticket_id = first_id + i
        priority = rng.choices(["critical", "high", "medium", "low"], weights=[2, 18, 50, 30])[0]
        created = NOW - timedelta(minutes=rng.uniform(0, 3 * 24 * 60))
        steps = []
        if rng.random() < 0.8:
            reply = created + timedelta(minutes=rng.uniform(1, 30))
            steps.append(Step(reply, "staff_reply"))
            events.append(
                dict(
                    ticket_id=ticket_id,
                    kind=EventKind.public_reply.value,
                    author_id=staff,
                    body="On it.",
                    ticket_version=2,
                    created_at=reply,
                )
            )
        facts = evaluate(created, priority, steps, sla.DEFAULT_POLICY, NOW)
        checks = []
        for fact in facts:
            for kind, instant in (("at_risk", fact.risk_reached_at), ("breached", fact.breached_at)):
                if instant is not None:
                    crossings.append(
                        dict(ticket_id=ticket_id, target=fact.target, kind=kind, at=instant, due_at=fact.due)
                    )
            if fact.ticking:
                checks += [fact.risk_at] if fact.risk_reached_at is None else []
                checks += [fact.due] if fact.breached_at is None else []
        fr, res = facts.first_response, facts.resolution
        ticking = [f.due for f in facts if f.ticking and f.due is not None]
        batch.append(
            dict(
                id=ticket_id,
                subject=f"Bench ticket {i}",
                description="x",
                category_id=rng.choice(categories),
                priority=priority,
                status="open" if steps else "new",
                tier="L1",
                channel="web",
                requester_id=customer.id,
                organization_id=org_id,
                assignee_id=rng.choice(agents),
                created_at=created,
                updated_at=created,
                version=2 if steps else 1,
                first_response_at=steps[0].at if steps else None,
                first_response_risk_at=fr.risk_at if fr.ticking else None,
                first_response_due=fr.due,
                first_response_achieved_at=fr.achieved_at,
                first_response_breached_at=fr.breached_at,
                first_response_breach_priority=fr.breach_priority,
                first_response_decided_at=fr.decided_at,
                resolution_risk_at=res.risk_at,
                resolution_due=res.due,
                resolution_breached_at=res.breached_at,
                resolution_breach_priority=res.breach_priority,
                resolution_decided_at=res.decided_at,
                paused_seconds=0,
                next_due_at=min(ticking, default=None),
            )
        )
        if checks:
            pending.append(dict(ticket_id=ticket_id, check_at=min(checks)))
        if len(batch) == 5000 or i == n - 1:
            db.session.execute(insert(Ticket), batch)
            if events:
                db.session.execute(insert(TicketEvent), events)
            if crossings:
                db.session.execute(insert(SlaEvent), crossings)
            if pending:
                db.session.execute(insert(SlaCheck), pending)
            db.session.commit()
            batch, events, crossings, pending = [], [], [], []
            print(f"\r  inserted {i + 1}/{n} tickets ({time.perf_counter() - started:.0f}s)", end="", flush=True)
    print()
    if db.engine.dialect.name == "postgresql":  # what autovacuum does on a live server: visibility map + statistics
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def timed(fn, repeat: int) -> tuple[float, object]:
    from portal.extensions import db

    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
        db.session.rollback()
    return statistics.median(times), result


def backlog(args) -> None:
    """One sweep over a generated backlog, on a fresh copy of the database (see the module's docstring)."""
    import os
    import shutil
    from contextlib import nullcontext

    try:
        import time_machine
    except ImportError:  # a production install without the test tools: the clock runs as it is
        time_machine = None

    os.environ.setdefault("PORTAL_ENV", "development")
    from portal import create_app

    source = args.backlog_db
    if "://" not in source:
        copy = Path(source).with_name(Path(source).stem + "-sweep-copy.db")
        for suffix in ("", "-wal", "-shm"):
            Path(str(copy) + suffix).unlink(missing_ok=True)
        shutil.copyfile(source, copy)
        url = f"sqlite:///{copy}"
    else:
        copy, url = None, source.replace("postgresql://", "postgresql+psycopg://", 1)
    now = datetime.fromisoformat(args.now.replace("Z", "+00:00"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False})
    with app.app_context():
        from portal.extensions import db
        from portal.models import SlaCheck, Ticket
        from portal.services import sla_sweep

        total = db.session.scalar(select(text("count(*)")).select_from(Ticket))
        due = db.session.scalar(select(text("count(*)")).select_from(SlaCheck).where(SlaCheck.check_at < now))
        db.session.rollback()
        if copy is not None:  # no automatic checkpoint at the commit (timed on its own below)
            db.session.execute(text("PRAGMA wal_autocheckpoint=0"))
        clock = time_machine.travel(now + timedelta(seconds=1), tick=True) if time_machine else nullcontext()
        with clock:
            start = time.perf_counter()
            stats = sla_sweep.run_sweep(now, batched=not args.one_at_a_time)
            swept = time.perf_counter() - start
            if copy is not None:  # a copied file: committed (and thrown away below)
                db.session.commit()
                done = time.perf_counter()
                # SQLite copies the write-ahead log into the database file at the first commit past 1,000 pages
                # (a passive checkpoint: readers and the next writer go on); timed apart from the sweep's commit
                db.session.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))
                checkpoint = (time.perf_counter() - done) * 1000
                committed = (
                    f" (with the commit {(done - start) * 1000:.0f} ms; then SQLite's checkpoint of the"
                    f" write-ahead log {checkpoint:.0f} ms)"
                )
            elif args.commit:  # a server database the caller copied for this run
                db.session.commit()
                committed = f" (with the commit {(time.perf_counter() - start) * 1000:.0f} ms)"
            else:  # a server database: rolled back, the backlog stays for the next run
                db.session.rollback()
                committed = " (rolled back)"
        path = "one at a time" if args.one_at_a_time else "batched"
        print(f"{db.engine.dialect.name}, {total} tickets, {due} due at {args.now}")
        print(f"sweep, 1-hour backlog ({path}): {swept * 1000:.0f} ms{committed} {stats}")
        db.session.remove()
        db.engine.dispose()
    if copy is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(str(copy) + suffix).unlink(missing_ok=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--database-url", default="sqlite:////tmp/bench_sla.db")
    parser.add_argument("--backlog-db", help="a database bench/generate.py left a sweep backlog in (file or URL)")
    parser.add_argument("--now", help="the --now it was generated with (ISO 8601)")
    parser.add_argument("--one-at-a-time", action="store_true", help="time the per-ticket path instead")
    parser.add_argument(
        "--commit", action="store_true", help="a server database: commit the sweep (timed with it); sweep a copy"
    )
    args = parser.parse_args(argv)
    if args.backlog_db:
        if not args.now:
            parser.error("--backlog-db needs --now")
        backlog(args)
        return
    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).unlink(missing_ok=True)

    from portal import create_app
    from portal.config import TestConfig

    class BenchConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = url

    app = create_app(BenchConfig)
    with app.app_context():
        from portal.extensions import db
        from portal.models import SlaCheck, Ticket
        from portal.services import routing, sla_sweep

        print(f"Building {args.tickets} open tickets on {db.engine.dialect.name}...")
        build(app, args.tickets)
        due_minute = db.session.scalar(
            select(text("count(*)")).select_from(SlaCheck).where(SlaCheck.check_at <= NOW + timedelta(minutes=2))
        )
        idle, stats0 = timed(lambda: sla_sweep.run_sweep(NOW), 5)
        minute, stats1 = timed(lambda: sla_sweep.run_sweep(NOW + timedelta(minutes=2)), 5)
        hour, stats2 = timed(lambda: sla_sweep.run_sweep(NOW + timedelta(hours=1)), 3)
        ticket = db.session.scalar(select(Ticket).where(Ticket.category_id.is_not(None)).limit(1))
        routing.decide(ticket, NOW)  # warm up
        decisions = []
        for i in range(200):
            start = time.perf_counter()
            routing.decide(ticket, NOW + timedelta(minutes=7 * i))
            decisions.append((time.perf_counter() - start) * 1000)
        print(f"open tickets: {args.tickets}")
        print(f"sweep, nothing due (indexed query only): {idle:.1f} ms  {stats0}")
        print(f"sweep, steady state (2 minutes of thresholds, {due_minute} tickets): {minute:.1f} ms  {stats1}")
        print(f"sweep, 1-hour backlog ({stats2['checked']} tickets): {hour:.1f} ms  {stats2}")
        print(
            f"routing decision: median {statistics.median(decisions):.2f} ms, "
            f"p95 {sorted(decisions)[int(len(decisions) * 0.95)]:.2f} ms over {len(decisions)} decisions "
            f"(goal ≤ 5 ms)"
        )
        db.session.remove()
        db.engine.dispose()


if __name__ == "__main__":
    main()
