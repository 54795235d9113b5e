"""Fill a database with a realistic help-desk history for benchmarks.

    python bench/generate.py --tickets 100000 --database-url sqlite:////tmp/bench100k.db [--orgs 200] [--seed 1]

Builds the schema with the Alembic migrations, runs ``portal.demo.seed()`` (the support team, the demo customers and
their 36 tickets; everyone's password is ``demo-pass-2026``), then bulk-inserts N tickets with 2–4 timeline events
each across many organizations and customers. Inserts use SQLAlchemy Core ``executemany`` in batches, one transaction
per batch, so 1M tickets (≈3M events) fit in minutes on SQLite and PostgreSQL. Ends with ANALYZE.

An existing SQLite file is deleted and rebuilt. A PostgreSQL database that already holds tables is only wiped with
``--fresh`` (DROP SCHEMA public CASCADE).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from bisect import bisect
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event, func, insert, inspect, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

# --------------------------------------------------------------------------- distributions

PRIORITIES = [("critical", 2), ("high", 13), ("medium", 50), ("low", 35)]
TIERS = [("L1", 80), ("L2", 15), ("manager", 4), ("engineering", 1)]
CHANNELS = [("web", 60), ("email", 25), ("chat", 7), ("api", 5), ("phone", 3)]
CATEGORY_WEIGHTS = {"technical": 25, "integration": 15, "account": 15, "data": 25, "training": 10, "general": 7}
NO_CATEGORY_WEIGHT = 3
# Open statuses by ticket age: fresh tickets are mostly new/open, a long tail of old ones waits on someone.
RECENT_OPEN = [("new", 30), ("open", 40), ("pending", 20), ("on_hold", 10)]
OLD_OPEN = [("new", 3), ("open", 22), ("pending", 40), ("on_hold", 35)]
DEMO_ORG_SHARE = {"demo.test": 0.01, "acme.test": 0.005}  # share of the generated tickets for the demo customers

SUBJECT_PARTS = (
    [
        "Bulk import fails for",
        "Wrong totals in",
        "Cannot export",
        "Question about",
        "Slow loading of",
        "Missing data in",
        "Duplicate rows in",
        "Access denied to",
        "Please explain",
        "Error 500 when opening",
        "Rounding differences in",
        "Sync stopped for",
        "How to configure",
        "Unexpected values in",
        "Timeout on",
    ],
    [
        "the Scope 1 report",
        "the Scope 2 electricity file",
        "Scope 3 supplier data",
        "the GRI 305 disclosure",
        "the CSRD ESRS E1 datapoints",
        "the TCFD scenario export",
        "the SAP connector",
        "the IoT meter feed",
        "the emissions dashboard",
        "the water usage module",
        "facility boundaries",
        "the SASB mapping",
        "user permissions",
        "the audit trail",
        "emission factors",
        "the CDP questionnaire",
        "the API",
        "the waste register",
        "our SSO login",
        "the quarterly close",
    ],
    [
        "",
        "",
        "",
        " (urgent)",
        " for Plant B",
        " since the last release",
        " in 2026",
        " for our Italian sites",
        " after the upgrade",
        " again",
    ],
)
DESCRIPTION_SENTENCES = [
    "Since this morning the numbers no longer match what we entered last week.",
    "We followed the steps in the knowledge base article but the result is the same.",
    "The same template worked last quarter without any changes on our side.",
    "Several colleagues in the sustainability team see the same behaviour in Chrome and Edge.",
    "Our auditors need the corrected figures before the end of the month.",
    "The error message says 'Row 14: unit kWh not recognised for activity grid_electricity'.",
    "We rotated the service user's password yesterday; maybe that is related.",
    "Attached is a screenshot of the page and the export we downloaded.",
    "Could you tell us whether this is a configuration issue or a bug?",
    "It happens only for the sites that were added after January.",
    "The dashboard takes more than thirty seconds when we select five years of data.",
    "We expected the national emission factor instead of the DEFRA default.",
]
REPLY_BODIES = [
    "Thanks for the details. I have reproduced the issue and am looking into it now.",
    "The unit column needs 'kWh' without the trailing space; the validator became strict in release 4.12.",
    "Could you send us the file you uploaded and the time of the failed attempt?",
    "This is caused by the reporting boundary of the site; I have corrected it, please check again.",
    "A fix is scheduled for the next release. Meanwhile please use the PPTX export.",
    "Go to Admin → Organization → Facilities and choose 'Add facility'.",
    "I have reset the connector credentials; the next sync runs within the hour.",
    "The emission factor set can be changed per site under Settings → Factors.",
]
CUSTOMER_BODIES = [
    "Thanks, that worked. You can close the ticket.",
    "Here is the file you asked for. The upload was at 09:40 CET.",
    "We still see the problem after the change, see the new screenshot.",
    "Is there an update on this? Our deadline is Friday.",
]
NOTE_BODIES = [
    "Checked the customer's configuration: boundary mapping looks wrong for two sites.",
    "Reproduced on staging. Escalating to L2 if the workaround does not help.",
    "Customer is on the enterprise plan; SLA applies. Called them to confirm.",
    "Known issue, linked to the engineering ticket for the validator change.",
]
FIRST_NAMES = [
    "Anna",
    "Ben",
    "Carla",
    "Deepak",
    "Elena",
    "Felix",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemal",
    "Lea",
    "Mateo",
    "Nora",
    "Oskar",
    "Paula",
    "Quentin",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Yara",
]
LAST_NAMES = [
    "Adams",
    "Berger",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Müller",
    "Novak",
    "Okafor",
    "Peters",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Weber",
]
REGIONS = ["EMEA", "AMER", "APAC"]
PLANS = ["starter", "professional", "enterprise"]
ZONES = ["Europe/London", "Europe/Berlin", "America/New_York", "America/Chicago", "Asia/Singapore", "Australia/Sydney"]


class Picker:
    """Fast weighted choice with a private RNG."""

    def __init__(self, rng: random.Random, items: list[tuple[object, float]]):
        self.rng = rng
        self.values = [v for v, _ in items]
        self.cum = list(accumulate(w for _, w in items))
        self.total = self.cum[-1]

    def __call__(self):
        return self.values[bisect(self.cum, self.rng.random() * self.total)]


def progress(label: str, done: int, total: int, started: float, unit: str = "tickets") -> None:
    elapsed = max(time.perf_counter() - started, 1e-9)
    rate = done / elapsed
    eta = (total - done) / rate if rate else 0
    sys.stderr.write(
        f"\r  {label}: {done:>9,}/{total:,} ({100 * done / total:5.1f}%)  {rate:>8,.0f} {unit}/s  "
        f"elapsed {elapsed:6.1f}s  eta {eta:6.1f}s "
    )
    sys.stderr.flush()


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- schema


def prepare_database(url: str, fresh: bool) -> None:
    """Delete an existing SQLite file; wipe a PostgreSQL schema only when asked to."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if not path or path == ":memory:":
            raise SystemExit("use a file database: sqlite:////tmp/bench.db")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            p = Path(path + suffix)
            if p.exists():
                p.unlink()
        return
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            tables = inspect(conn).get_table_names()
            if tables and not fresh:
                raise SystemExit(
                    f"{parsed.render_as_string(hide_password=True)} already has tables "
                    f"({', '.join(sorted(tables)[:5])}...); pass --fresh to drop and rebuild them"
                )
            if tables:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def _fast_sqlite(dbapi_connection, _record) -> None:
    """Generator-only pragmas (run after the app's own: WAL stays, durability is relaxed while loading)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


# --------------------------------------------------------------------------- generation


def generate(args) -> None:
    os.environ.setdefault("PORTAL_ENV", "development")
    from flask_migrate import upgrade

    from portal import create_app
    from portal.demo import DEMO_PASSWORD, seed
    from portal.extensions import db
    from portal.models import Category, Organization, Role, Ticket, TicketEvent, User
    from portal.services.accounts import hash_password

    t0 = time.perf_counter()
    prepare_database(args.database_url, args.fresh)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": args.database_url,
            "SECRET_KEY": "bench-generator",
            "RATELIMIT_ENABLED": False,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": False},
        }
    )
    with app.app_context():
        engine = db.engine
        dialect = engine.dialect.name
        if dialect == "sqlite":
            event.listen(engine, "connect", _fast_sqlite)
            engine.dispose()  # reconnect so the listener runs
        log(f"schema: running migrations on {engine.url.render_as_string(hide_password=True)}")
        upgrade(revision="heads")
        log("demo seed:")
        seed(echo=lambda m: log("  " + m))
        db.session.commit()
        t_setup = time.perf_counter()

        rng = random.Random(args.seed)
        now = datetime.now(UTC).replace(microsecond=0)
        span = timedelta(days=args.days)
        start = now - span

        # ---- organizations and customers
        demo_orgs = {o.email_domains.split(",")[0]: o.id for o in db.session.scalars(select(Organization))}
        next_org_id = (db.session.scalar(select(func.max(Organization.id))) or 0) + 1
        next_user_id = (db.session.scalar(select(func.max(User.id))) or 0) + 1
        password_hash = hash_password(DEMO_PASSWORD)
        org_rows, user_rows = [], []
        org_customers: dict[int, list[int]] = {}
        org_weights: list[tuple[int, float]] = []
        for n in range(1, args.orgs + 1):
            org_id = next_org_id + n - 1
            domain = f"org{n:04d}.test"
            weight = rng.paretovariate(1.2)  # a few large accounts, many small ones
            org_rows.append(
                dict(
                    id=org_id,
                    name=f"Bench Org {n:04d} Ltd",
                    email_domains=domain,
                    region=rng.choice(REGIONS),
                    plan=rng.choice(PLANS),
                    notes="",
                    created_at=start - timedelta(days=rng.randint(1, 365)),
                )
            )
            org_weights.append((org_id, weight))
            people = max(2, min(60, int(3 * weight + rng.randint(0, 4))))
            ids = []
            for k in range(people):
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                ids.append(next_user_id)
                user_rows.append(
                    dict(
                        id=next_user_id,
                        email=f"{first.lower()}.{last.lower()}{k}@{domain}".replace("ü", "ue"),
                        name=f"{first} {last}",
                        password_hash=password_hash,
                        role=Role.customer.value,
                        organization_id=org_id,
                        timezone=rng.choice(ZONES),
                        shift_region=None,
                        specializations=[],
                        is_active_account=True,
                        is_approved=True,
                        created_at=start - timedelta(days=rng.randint(0, 30)),
                        last_login_at=None,
                    )
                )
                next_user_id += 1
            org_customers[org_id] = ids
        with engine.begin() as conn:
            if org_rows:
                conn.execute(insert(Organization.__table__), org_rows)
            if user_rows:
                conn.execute(insert(User.__table__), user_rows)
        # The demo organizations take a fixed share of the tickets so the customer pages have a realistic load.
        total_weight = sum(w for _, w in org_weights) or 1.0
        rest_share = 1.0 - sum(DEMO_ORG_SHARE.values())
        weights = [(org_id, rest_share * w / total_weight) for org_id, w in org_weights]
        for domain, share in DEMO_ORG_SHARE.items():
            if domain in demo_orgs:
                org_id = demo_orgs[domain]
                org_customers[org_id] = list(
                    db.session.scalars(
                        select(User.id).where(User.organization_id == org_id, User.role == Role.customer)
                    )
                )
                weights.append((org_id, share))
        pick_org = Picker(rng, weights)
        log(f"organizations: {len(org_rows)} added, customers: {len(user_rows)} added")

        # ---- staff and categories
        staff = list(
            db.session.execute(
                select(User.id, User.role).where(User.role.in_([Role.agent, Role.senior_agent, Role.manager]))
            )
        )
        by_role = {r: [i for i, role in staff if role is r] for r in (Role.agent, Role.senior_agent, Role.manager)}
        assignees_for_tier = {
            "L1": by_role[Role.agent] + by_role[Role.senior_agent],
            "L2": by_role[Role.senior_agent],
            "manager": by_role[Role.manager],
            "engineering": by_role[Role.senior_agent] + by_role[Role.manager],
        }
        staff_names = dict(
            db.session.execute(select(User.id, User.name).where(User.id.in_([s for s, _ in staff]))).all()
        )
        categories = {slug: cid for cid, slug in db.session.execute(select(Category.id, Category.slug))}
        cat_items = [(categories[s], w) for s, w in CATEGORY_WEIGHTS.items() if s in categories]
        cat_items.append((None, NO_CATEGORY_WEIGHT))
        pick_category = Picker(rng, cat_items)
        slug_of = {cid: slug for slug, cid in categories.items()}
        pick_priority = Picker(rng, PRIORITIES)
        pick_tier = Picker(rng, TIERS)
        pick_channel = Picker(rng, CHANNELS)
        pick_recent_open = Picker(rng, RECENT_OPEN)
        pick_old_open = Picker(rng, OLD_OPEN)
        db.session.commit()

        subjects = [f"{a} {b}{c}" for a in SUBJECT_PARTS[0] for b in SUBJECT_PARTS[1] for c in SUBJECT_PARTS[2]]
        descriptions = [" ".join(rng.sample(DESCRIPTION_SENTENCES, rng.randint(2, 5))) for _ in range(500)]

        # ---- tickets and events
        ticket_table, event_table = Ticket.__table__, TicketEvent.__table__
        next_ticket_id = (db.session.scalar(select(func.max(Ticket.id))) or 0) + 1
        next_event_id = (db.session.scalar(select(func.max(TicketEvent.id))) or 0) + 1
        db.session.remove()
        total = args.tickets
        span_s = span.total_seconds()
        counts = {"tickets": 0, "events": 0, "open": 0}
        t_start = time.perf_counter()
        batch_tickets, batch_events = [], []

        def flush() -> None:
            with engine.begin() as conn:
                conn.execute(insert(ticket_table), batch_tickets)
                conn.execute(insert(event_table), batch_events)
            counts["events"] += len(batch_events)
            batch_tickets.clear()
            batch_events.clear()

        for i in range(total):
            ticket_id = next_ticket_id + i
            # Creation times grow with the id (as in production); a little jitter, never in the future.
            frac = (i + rng.random()) / total
            created = start + timedelta(seconds=span_s * frac)
            age_days = (now - created).total_seconds() / 86400
            org_id = pick_org()
            requester = rng.choice(org_customers[org_id])
            priority, tier, channel, category_id = pick_priority(), pick_tier(), pick_channel(), pick_category()
            p_open = 0.65 if age_days < 3 else 0.30 if age_days < 14 else 0.10 if age_days < 60 else 0.06
            if rng.random() < p_open:
                status = pick_recent_open() if age_days < 14 else pick_old_open()
            else:
                status = "solved" if age_days < 7 or rng.random() < 0.04 else "closed"
            # The timeline: created, then 1-3 of staff reply / customer reply / internal note / field change.
            n_events = rng.randint(2, 4)
            assignee = None
            if status != "new" or rng.random() < 0.3:
                assignee = rng.choice(assignees_for_tier[tier])
            gap = max(60.0, min(age_days * 86400 / (n_events + 1), 3 * 86400))
            moment = created
            version = 1
            desc = descriptions[rng.randrange(len(descriptions))]
            events = [
                dict(
                    id=next_event_id,
                    ticket_id=ticket_id,
                    kind="created",
                    author_id=requester,
                    body=desc,
                    field=None,
                    old_value=None,
                    new_value=None,
                    ticket_version=1,
                    created_at=created,
                )
            ]
            next_event_id += 1
            first_response = None
            for k in range(1, n_events):
                moment = moment + timedelta(seconds=rng.uniform(0.05, 1.0) * gap)
                version += 1
                last = k == n_events - 1
                kind, author, body, field, old, new = "public_reply", assignee, "", None, None, None
                if status == "new":
                    # Nothing public from staff yet: notes, triage changes, the customer adding detail.
                    roll = rng.random()
                    if roll < 0.4:
                        kind, author, body = "public_reply", requester, rng.choice(CUSTOMER_BODIES)
                    elif roll < 0.7 and assignee:
                        kind, author, body = "internal_note", assignee, rng.choice(NOTE_BODIES)
                    else:
                        kind, author = "field_change", (assignee or rng.choice(by_role[Role.manager] or [requester]))
                        field, old, new = "category", None, slug_of.get(category_id)
                elif k == 1:
                    kind, author, body = "public_reply", assignee, rng.choice(REPLY_BODIES)
                    first_response = moment
                elif last and status in ("solved", "closed", "pending", "on_hold"):
                    kind, author, field = "field_change", assignee, "status"
                    old, new = "open", ("solved" if status == "closed" else status)
                else:
                    roll = rng.random()
                    if roll < 0.4:
                        kind, author, body = "internal_note", assignee, rng.choice(NOTE_BODIES)
                    elif roll < 0.75:
                        kind, author, body = "public_reply", requester, rng.choice(CUSTOMER_BODIES)
                    else:
                        kind, author, field = "field_change", assignee, "assignee"
                        old, new = None, staff_names.get(assignee)
                events.append(
                    dict(
                        id=next_event_id,
                        ticket_id=ticket_id,
                        kind=kind,
                        author_id=author,
                        body=body,
                        field=field,
                        old_value=old,
                        new_value=new,
                        ticket_version=version,
                        created_at=min(moment, now),
                    )
                )
                next_event_id += 1
            updated = events[-1]["created_at"]
            solved_at = closed_at = None
            if status in ("solved", "closed"):
                solved_at = updated
                if status == "closed":
                    closed_at = min(updated + timedelta(days=4), now)
                    updated = closed_at
            batch_tickets.append(
                dict(
                    id=ticket_id,
                    subject=subjects[rng.randrange(len(subjects))],
                    description=desc,
                    category_id=category_id,
                    priority=priority,
                    status=status,
                    tier=tier,
                    channel=channel,
                    requester_id=requester,
                    organization_id=org_id,
                    assignee_id=assignee,
                    follow_up_of_id=None,
                    created_at=created,
                    updated_at=updated,
                    first_response_at=first_response,
                    solved_at=solved_at,
                    closed_at=closed_at,
                    version=version,
                    **_sla_columns(priority, status, created, first_response, now),
                )
            )
            batch_events.extend(events)
            counts["open"] += status in ("new", "open", "pending", "on_hold")
            if len(batch_tickets) >= args.batch:
                flush()
                progress("tickets", i + 1, total, t_start)
        if batch_tickets:
            flush()
        if total:
            progress("tickets", total, total, t_start)
            sys.stderr.write("\n")
        t_insert = time.perf_counter()

        # ---- sequences, statistics, checkpoint
        with engine.begin() as conn:
            if dialect == "postgresql":
                for table in ("organizations", "users", "tickets", "ticket_events"):
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                        )
                    )
        log("ANALYZE ...")
        if dialect == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        else:
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        t_end = time.perf_counter()
        with engine.connect() as conn:
            n_tickets = conn.scalar(select(func.count()).select_from(ticket_table))
            n_events = conn.scalar(select(func.count()).select_from(event_table))
        engine.dispose()

    inserted = counts["tickets"] = total
    log(
        f"done: {n_tickets:,} tickets, {n_events:,} events in the database "
        f"({inserted:,} generated, {counts['open'] / max(inserted, 1):.1%} open, "
        f"{counts['events'] / max(inserted, 1):.2f} events/ticket)"
    )
    log(
        f"time: setup {t_setup - t0:.1f}s, insert {t_insert - t_setup:.1f}s "
        f"({inserted / max(t_insert - t_setup, 1e-9):,.0f} tickets/s), analyze {t_end - t_insert:.1f}s, "
        f"total {t_end - t0:.1f}s"
    )


# Default SLA targets in minutes (the default policy): first response, resolution.
SLA_MINUTES = {"critical": (15, 240), "high": (60, 480), "medium": (240, 1440), "low": (1440, 4320)}


NO_CLOCK_COLUMNS = (
    "first_response_due",
    "first_response_risk_at",
    "resolution_due",
    "resolution_risk_at",
    "paused_since",
    "next_due_at",
    "sla_check_at",
)


def _sla_columns(priority, status, created, first_response, now):
    """The SLA clock columns as portal.services.sla would leave them (no thresholds recorded by a sweep yet)."""
    if status not in ("new", "open", "pending", "on_hold"):
        # Every row of an executemany batch needs the same keys: a solved or closed ticket has no clock running.
        return dict.fromkeys(NO_CLOCK_COLUMNS) | {"paused_seconds": 0}
    fr_min, res_min = SLA_MINUTES[priority]
    fr_due, res_due = created + timedelta(minutes=fr_min), created + timedelta(minutes=res_min)
    fr_risk, res_risk = created + timedelta(minutes=fr_min * 0.75), created + timedelta(minutes=res_min * 0.75)
    paused = status == "pending"
    dues = ([fr_due] if first_response is None else []) + ([] if paused else [res_due])
    checks = [
        t
        for t in (([fr_risk, fr_due] if first_response is None else []) + ([] if paused else [res_risk, res_due]))
        if t > now
    ]
    return dict(
        first_response_due=fr_due,
        first_response_risk_at=fr_risk,
        resolution_due=res_due,
        resolution_risk_at=res_risk,
        paused_seconds=0,
        paused_since=now if paused else None,
        next_due_at=min(dues) if dues else None,
        sla_check_at=min(checks) if checks else None,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, required=True, help="number of tickets to generate (e.g. 100000)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="sqlite:////tmp/bench.db or postgresql+psycopg://user@host/db (default: $DATABASE_URL)",
    )
    parser.add_argument("--orgs", type=int, default=200, help="generated customer organizations (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--days", type=int, default=3 * 365, help="history length in days (default 1095)")
    parser.add_argument("--batch", type=int, default=5000, help="tickets per insert transaction (default 5000)")
    parser.add_argument("--fresh", action="store_true", help="drop an existing PostgreSQL schema first")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url (or DATABASE_URL) is required")
    url = args.database_url
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    args.database_url = url
    generate(args)


if __name__ == "__main__":
    main()
