"""What a Prometheus scrape and a readiness probe cost on a large desk.

    .venv/bin/python bench/bench_metrics.py [--tickets 1000000] [--open-share 0.03] \
        [--database-url postgresql://postgres@127.0.0.1/bench_metrics]

Builds a fresh database with the migrations (SQLite file by default; a PostgreSQL URL works too and is wiped), bulk
inserts N tickets (most of them closed or solved, ``--open-share`` open, some with a breached target) and a
backlog of outbox rows, then prints the median and worst of several runs of: the ticket counts by status and
priority (one grouped query), the SLA gauges, the whole ``/metrics`` exposition and ``/readyz``'s checks.
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

NOW = datetime.now(UTC)


def build(n: int, open_share: float) -> None:
    from flask_migrate import upgrade

    from portal.extensions import db
    from portal.models import Category, OutboxMessage, Role, Ticket, User
    from portal.services.catalog import ensure_default_categories

    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(revision="heads")
    ensure_default_categories()
    customer = User(email="bench@example.test", name="Bench", role=Role.customer, password_hash="x")
    db.session.add(customer)
    db.session.commit()
    categories = list(db.session.scalars(select(Category.id)))
    rng = random.Random(11)
    started, batch = time.perf_counter(), []
    for i in range(n):
        created = NOW - timedelta(minutes=rng.uniform(0, 3 * 365 * 24 * 60))
        is_open = rng.random() < open_share
        status = rng.choice(["new", "open", "pending", "on_hold"]) if is_open else rng.choice(["solved", "closed"])
        breached = created + timedelta(hours=8) if rng.random() < 0.1 else None
        batch.append(
            dict(
                subject=f"Bench ticket {i}",
                description="x",
                category_id=rng.choice(categories),
                priority=rng.choices(["critical", "high", "medium", "low"], weights=[2, 18, 50, 30])[0],
                status=status,
                tier="L1",
                channel="web",
                requester_id=customer.id,
                created_at=created,
                updated_at=created,
                version=1,
                paused_seconds=0,
                resolution_breached_at=breached,
            )
        )
        if len(batch) == 10_000 or i == n - 1:
            db.session.execute(insert(Ticket), batch)
            db.session.commit()
            batch = []
            print(f"\r  inserted {i + 1:,}/{n:,} tickets ({time.perf_counter() - started:.0f}s)", end="", flush=True)
    print()
    rows = [
        dict(kind="notify.x", queue="notify", payload={}, status=rng.choice(["done"] * 9 + ["pending"]))
        for _ in range(50_000)
    ]
    db.session.execute(insert(OutboxMessage), rows)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def timed(label: str, fn, runs: int = 7) -> None:
    fn()  # warm the caches and the statement cache
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    print(f"  {label:<34} median {statistics.median(samples):8.1f} ms   worst {max(samples):8.1f} ms")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--open-share", type=float, default=0.03)
    parser.add_argument("--database-url", default="sqlite:////tmp/bench_metrics.db")
    args = parser.parse_args(argv)
    url = args.database_url
    if url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]

    from portal import create_app
    from portal.config import TestConfig

    class BenchConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = url

    app = create_app(BenchConfig)
    with app.app_context():
        from portal.extensions import db
        from portal.services import health, live_dashboard, metrics

        print(f"Building {args.tickets:,} tickets ({args.open_share:.0%} open) on {db.engine.dialect.name} ...")
        build(args.tickets, args.open_share)
        print(f"Timings ({db.engine.dialect.name}, {args.tickets:,} tickets):")
        timed("tickets by status and priority", metrics.ticket_counts)
        timed("SLA breached and open", metrics.breached_open)
        timed("SLA at risk now", lambda: live_dashboard.at_risk(datetime.now(UTC), shown=0))
        timed("outbox lag + failed", lambda: (health.outbox_lag_seconds(datetime.now(UTC)), health.failed_count()))
        timed("/readyz checks", health.readiness)
        timed("/metrics exposition", metrics.exposition)
        db.session.rollback()


if __name__ == "__main__":
    main()
