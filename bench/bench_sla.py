"""SLA sweep and routing decision timings over many open tickets.

    .venv/bin/python bench/bench_sla.py [--tickets 100000] [--database-url sqlite:////tmp/bench_sla.db]

Builds a fresh database with the migrations (SQLite file by default; a PostgreSQL URL works too and is wiped), seeds
the demo team and roster, bulk-inserts N open tickets whose SLA thresholds are spread over the next 7 days, then
prints: the sweep when nothing is due (the indexed query alone), a steady-state sweep (one minute of thresholds
crossed, as the every-minute schedule sees it), a one-hour backlog sweep, and the routing decision time. Each sweep
is rolled back so runs measure the same work. Goals: sweep ≤ 500 ms, routing ≤ 5 ms.
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
    for i in range(n):
        created = NOW - timedelta(minutes=rng.randint(0, 3 * 24 * 60))
        due = NOW + timedelta(seconds=rng.randint(60, 7 * 24 * 3600))  # next threshold within a week
        batch.append(
            dict(
                subject=f"Bench ticket {i}",
                description="x",
                category_id=rng.choice(categories),
                priority=rng.choice(["critical", "high", "medium", "low"]),
                status=rng.choice(["new", "open"]),
                tier="L1",
                channel="web",
                requester_id=customer.id,
                organization_id=org_id,
                assignee_id=rng.choice(agents),
                created_at=created,
                updated_at=created,
                version=1,
                first_response_risk_at=due,
                first_response_due=due + timedelta(minutes=45),
                resolution_risk_at=due + timedelta(hours=6),
                resolution_due=due + timedelta(hours=8),
                paused_seconds=0,
                next_due_at=due + timedelta(minutes=45),
                sla_check_at=due,
            )
        )
        if len(batch) == 5000 or i == n - 1:
            db.session.execute(insert(Ticket), batch)
            db.session.commit()
            batch = []
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--database-url", default="sqlite:////tmp/bench_sla.db")
    args = parser.parse_args(argv)
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
        from portal.models import Ticket
        from portal.services import routing, sla_sweep

        print(f"Building {args.tickets} open tickets on {db.engine.dialect.name}...")
        build(app, args.tickets)
        due_minute = db.session.scalar(
            select(text("count(*)")).select_from(Ticket).where(Ticket.sla_check_at <= NOW + timedelta(minutes=2))
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
