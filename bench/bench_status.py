"""The public status page: median and p95 of GET /status, in process (the Flask test client) and over HTTP from a
real gunicorn process; with the page cache warm (the usual case: the page only changes when an incident, update,
window, component or post-mortem does) and cold (every request rebuilds and renders it).

    .venv/bin/python bench/bench_status.py [--requests 500] [--incidents 150] [--database-url sqlite:////tmp/bench_status.db]
        [--no-gunicorn]

Builds a fresh database with the migrations (a SQLite file is deleted first; a PostgreSQL database is wiped): the
five default components and a sixth, ``--incidents`` resolved public incidents spread over the last 90 days (each
with three updates and one or two components), three open incidents with five updates each, a running and a
scheduled maintenance window, a few completed ones, and one published public post-mortem. Anonymous requests.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench.bench_pages import Client, free_port, p95, start_gunicorn, stop_gunicorn, wait_healthy  # noqa: E402


def build_app(url: str, instance: Path):
    from portal import create_app

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench-status-" + "x" * 40,
            "RATELIMIT_ENABLED": False,
            "INDEX_DIR": str(instance / "index"),
            "JOBS_RELAY_ON_COMMIT": False,
            "JOBS_EMBEDDED_SCHEDULER": False,
            "MAIL_SERVER": None,
            "SLACK_WEBHOOK_URL": None,
        }
    )
    app.instance_path = str(instance)
    return app


def seed(incidents: int) -> None:
    from portal.extensions import db
    from portal.models import (
        Component,
        ComponentState,
        Incident,
        IncidentComponent,
        IncidentKind,
        IncidentSeverity,
        IncidentState,
        IncidentUpdate,
        Maintenance,
        MaintenanceComponent,
        PostMortem,
        PostMortemState,
        utcnow,
    )
    from portal.services.status.components import ensure_default_components

    rng = random.Random(90)
    ensure_default_components()
    db.session.add(Component(slug="exports", name="Exports", description="CSV and XBRL exports", position=6))
    db.session.flush()
    component_ids = [c.id for c in db.session.query(Component).all()]
    now = utcnow()
    impacts = [ComponentState.degraded, ComponentState.partial_outage, ComponentState.major_outage]

    def incident(declared, resolved, updates: int) -> Incident:
        row = Incident(
            kind=IncidentKind.outage,
            severity=IncidentSeverity.major,
            title=f"Incident {rng.randint(1000, 9999)}: slow responses",
            summary="",
            state=IncidentState.resolved if resolved else IncidentState.identified,
            public=True,
            declared_at=declared,
            resolved_at=resolved,
        )
        db.session.add(row)
        db.session.flush()
        for component_id in rng.sample(component_ids, rng.randint(1, 2)):
            db.session.add(IncidentComponent(incident_id=row.id, component_id=component_id, impact=rng.choice(impacts)))
        for n in range(updates):
            db.session.add(
                IncidentUpdate(
                    incident_id=row.id,
                    state=row.state,
                    body=f"Update {n + 1}: we are working on it. " * 3,
                    created_at=declared + timedelta(minutes=20 * n),
                )
            )
        return row

    print(f"seeding {incidents} resolved incidents, 3 open ones, maintenance and a post-mortem ...", flush=True)
    last = None
    for _ in range(incidents):
        declared = now - timedelta(days=rng.uniform(0.5, 89), hours=rng.uniform(0, 12))
        last = incident(declared, declared + timedelta(hours=rng.uniform(0.5, 30)), 3)
    for _ in range(3):
        incident(now - timedelta(hours=rng.uniform(1, 5)), None, 5)
    for start, hours in ((now - timedelta(hours=1), 3), (now + timedelta(days=2), 2), (now - timedelta(days=20), 2)):
        window = Maintenance(
            title="Database maintenance",
            body="Short interruptions.",
            starts_at=start,
            ends_at=start + timedelta(hours=hours),
            created_at=start - timedelta(days=3),
        )
        db.session.add(window)
        db.session.flush()
        db.session.add(MaintenanceComponent(maintenance_id=window.id, component_id=component_ids[1]))
    db.session.add(
        PostMortem(
            incident_id=last.id,
            body="# Post-mortem\n\nA full disk.",
            state=PostMortemState.published,
            public=True,
            created_at=now,
            updated_at=now,
            published_at=now,
        )
    )
    db.session.commit()


def summary(label: str, times: list[float]) -> str:
    return f"{label:<42} median {statistics.median(times):7.2f} ms   p95 {p95(times):7.2f} ms   (n={len(times)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--incidents", type=int, default=150)
    parser.add_argument("--database-url", default="sqlite:////tmp/bench_status.db")
    parser.add_argument("--no-gunicorn", action="store_true")
    args = parser.parse_args()
    url = args.database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    instance = Path(tempfile.mkdtemp(prefix="bench-status-"))
    app = build_app(url, instance)

    from flask_migrate import upgrade

    from portal.extensions import db
    from portal.services.status import page

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        print("migrating ...", flush=True)
        upgrade(revision="heads")
        seed(args.incidents)

    client = app.test_client()
    first = client.get("/status")
    assert first.status_code == 200 and "Set-Cookie" not in first.headers, first.status_code
    print(f"page: {len(first.data) // 1024} KiB", flush=True)
    results = []

    print("test client, warm cache ...", flush=True)
    times = []
    for _ in range(args.requests):
        t = time.perf_counter()
        response = client.get("/status")
        times.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200
    results.append(summary("test client, warm cache", times))

    print("test client, cold (cache cleared before each request) ...", flush=True)
    times = []
    for _ in range(max(20, args.requests // 10)):
        page.clear_cache()
        t = time.perf_counter()
        client.get("/status")
        times.append((time.perf_counter() - t) * 1000)
    results.append(summary("test client, cold (rebuild + render)", times))

    if not args.no_gunicorn:
        port = free_port()
        log = instance / "gunicorn.log"
        print(f"gunicorn -w 1 on port {port} ...", flush=True)
        proc = start_gunicorn(url, port, 1, log, {"PORTAL_INSTANCE_DIR": str(instance)})
        try:
            http = Client("127.0.0.1", port)
            wait_healthy(http, proc, log)
            for _ in range(20):
                http.get("/status")
            times = []
            for _ in range(args.requests):
                t = time.perf_counter()
                status, headers, _body = http.get("/status")
                times.append((time.perf_counter() - t) * 1000)
                assert status == 200 and "Set-Cookie" not in headers
            results.append(summary("gunicorn (1 sync worker), HTTP, warm", times))
        finally:
            stop_gunicorn(proc)

    print()
    for line in results:
        print(line)


if __name__ == "__main__":
    main()
