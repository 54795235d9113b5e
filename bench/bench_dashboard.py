"""Live dashboard timings on a generated database (bench/generate.py): each figure's queries, the whole board, and
the htmx partial the page polls every 30 s (rendered by the app, signed in as the demo manager).

    .venv/bin/python bench/generate.py --tickets 100000 --database-url sqlite:////tmp/bench100k.db
    .venv/bin/python bench/bench_dashboard.py --database-url sqlite:////tmp/bench100k.db [--repeat 50]

The generator leaves every SLA breach unrecorded (it writes the clocks' due instants, not what the every-minute sweep
would have recorded since), which no running desk looks like; so the breaches of clocks already past their due
instant are first recorded the way the sweep records them (breach instant = due instant, priority = the ticket's),
once — pass ``--as-generated`` to time the database as it is. ``--open-share`` only reports the share of open
tickets. Goal: the whole board ≤ 30 ms median. Prints median, p95, mean and min in ms per part.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

MANAGER = "robert.taylor@support.test"
PASSWORD = "demo-pass-2026"
OPEN = "status IN ('new', 'open', 'pending', 'on_hold')"


def record_breaches(db, now) -> int:
    """Record, as the sweep would have, the breaches of running clocks already past their due instant."""
    changed = 0
    for target, running in (
        ("first_response", "first_response_at IS NULL"),
        ("resolution", "paused_since IS NULL"),
    ):
        result = db.session.execute(
            text(
                f"UPDATE tickets SET {target}_breached_at = {target}_due, {target}_decided_at = {target}_due, "
                f"{target}_breach_priority = priority WHERE {OPEN} AND {running} AND {target}_due < :now "
                f"AND {target}_breached_at IS NULL AND {target}_achieved_at IS NULL"
            ),
            {"now": now.replace(tzinfo=None) if db.engine.dialect.name == "sqlite" else now},
        )
        changed += result.rowcount or 0
    db.session.commit()
    if changed and db.engine.dialect.name == "sqlite":
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    elif changed:  # as autovacuum would: fresh statistics and visibility map (index-only scans)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE tickets")
    return changed


def timed(fn, repeat: int, warmup: int, reset) -> list[float]:
    for _ in range(warmup):
        fn()
        reset()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
        reset()
    return times


def line(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return (
        f"  {name:<34} median {statistics.median(ordered):7.2f}  p95 {p95:7.2f}  "
        f"mean {statistics.fmean(ordered):7.2f}  min {ordered[0]:7.2f}"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a database built by bench/generate.py")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--zone", default="Europe/London", help="the viewer's zone (today starts at its midnight)")
    parser.add_argument("--as-generated", action="store_true", help="do not record the breaches the sweep would have")
    args = parser.parse_args(argv)
    os.environ.setdefault("PORTAL_ENV", "development")

    from zoneinfo import ZoneInfo

    from portal import create_app
    from portal.extensions import db
    from portal.models import Ticket, utcnow
    from portal.services import live_dashboard as board

    url = args.database_url
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench-dashboard",
            "RATELIMIT_ENABLED": False,
            "WTF_CSRF_ENABLED": False,
            "JOBS_EMBEDDED_SCHEDULER": False,
            "JOBS_RELAY_ON_COMMIT": False,
        }
    )
    zone = ZoneInfo(args.zone)
    with app.app_context():
        now = utcnow()
        if not args.as_generated:
            recorded = record_breaches(db, now)
            if recorded:
                print(f"recorded {recorded:,} breaches the sweep would have recorded (once; --as-generated skips)")
        tickets = db.session.scalar(select(func.count()).select_from(Ticket))
        open_tickets = db.session.scalar(select(func.count()).select_from(Ticket).where(text(OPEN)))
        print(
            f"{db.engine.url.render_as_string(hide_password=True)}: {tickets:,} tickets, {open_tickets:,} open "
            f"({open_tickets / max(tickets, 1):.1%}); {args.repeat} runs each after {args.warmup} warm-up runs, ms"
        )
        day, start = board.local_midnight(now, zone)
        from datetime import timedelta

        end = start + timedelta(days=1)
        parts = {
            "open by priority × tier": board.open_matrix,
            "unassigned by tier": board.unassigned_by_tier,
            "at risk now": lambda: board.at_risk(utcnow()),
            "breached today": lambda: board.breached_since(start, end, utcnow()),
            "on shift with loads": lambda: board.on_shift(utcnow()),
            "satisfaction today": lambda: board.csat_since(start, end),
            "whole board (service)": lambda: board.dashboard(zone),
        }
        for name, fn in parts.items():
            print(line(name, timed(fn, args.repeat, args.warmup, db.session.rollback)))
        figures = board.dashboard(zone)
        print(
            f"  board: {figures.open_total:,} open, {figures.at_risk_count:,} at risk, "
            f"{figures.breached_today_total:,} breached today, {figures.unassigned:,} unassigned, "
            f"{len(figures.on_shift)} on shift, {figures.csat_responses} ratings today"
        )

    client = app.test_client()
    response = client.post("/login", data={"email": MANAGER, "password": PASSWORD})
    if response.status_code != 302:
        raise SystemExit(f"sign-in as {MANAGER} failed ({response.status_code}); was the demo team seeded?")

    def partial():
        answer = client.get("/reports/live/board", headers={"HX-Request": "true"})
        if answer.status_code != 200:
            raise SystemExit(f"/reports/live/board answered {answer.status_code}")

    print(line("GET /reports/live/board (partial)", timed(partial, args.repeat, args.warmup, lambda: None)))


if __name__ == "__main__":
    main()
