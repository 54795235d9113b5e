"""Fill a database with a realistic help-desk history for benchmarks.

    python bench/generate.py --tickets 100000 --database-url sqlite:////tmp/bench100k.db [--orgs 200] [--seed 1]

Builds the schema with the Alembic migrations, runs ``portal.demo.seed()`` (the support team, the demo customers and
their 36 tickets; everyone's password is ``demo-pass-2026``), then bulk-inserts N tickets with their timelines across
many organizations and customers. Every ticket's SLA columns are what the engine computes from its history (as
``portal.services.sla.refresh`` writes them), and the SLA crossings a running sweep would have recorded are recorded.
Batches are made by worker processes and inserted in order with the driver's ``executemany``, secondary indexes built
once at the end, so 1M tickets (≈4.7M events) fit in minutes on SQLite and PostgreSQL. Ends with ANALYZE.

An existing SQLite file is deleted and rebuilt. A PostgreSQL database that already holds tables is only wiped with
``--fresh`` (DROP SCHEMA public CASCADE).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import time
from bisect import bisect
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event, func, insert, inspect, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from portal.services.sla import CLOCK_COLUMNS  # noqa: E402

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
    from portal.models import STAFF_ROLES, Category, Organization, Role, SlaCheck, SlaEvent, Ticket, TicketEvent, User
    from portal.services import counters, sla
    from portal.services.accounts import hash_password

    t0 = time.perf_counter()
    prepare_database(args.database_url, args.fresh)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": args.database_url,
            "SECRET_KEY": "bench-generator",
            "ENV_NAME": os.environ["PORTAL_ENV"],
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
        now = args.now or datetime.now(UTC).replace(microsecond=0)
        # Crossings (at risk, breached) up to this instant are recorded as a sweep running all along would have;
        # later ones are left for the sweep to find (``--sweep-backlog-minutes``: the backlog a benchmark sweeps).
        recorded_until = now - timedelta(minutes=args.sweep_backlog_minutes)
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
        log(f"organizations: {len(org_rows)} added, customers: {len(user_rows)} added")

        # ---- staff, categories, policies: everything a batch needs, as plain data
        staff = list(
            db.session.execute(
                select(User.id, User.role).where(User.role.in_([Role.agent, Role.senior_agent, Role.manager]))
            )
        )
        by_role = {r: [i for i, role in staff if role is r] for r in (Role.agent, Role.senior_agent, Role.manager)}
        categories = {slug: cid for cid, slug in db.session.execute(select(Category.id, Category.slug))}
        cat_items = [(categories[s], w) for s, w in CATEGORY_WEIGHTS.items() if s in categories]
        cat_items.append((None, NO_CATEGORY_WEIGHT))
        policies: dict = {}
        staff_ids = frozenset(
            i for (i,) in db.session.execute(select(User.id).where(User.role.in_([r.value for r in STAFF_ROLES])))
        )
        plan = Plan(
            seed=args.seed,
            total=args.tickets,
            start=start,
            now=now,
            recorded_until=recorded_until,
            sqlite=dialect == "sqlite",
            org_weights=weights,
            org_customers=org_customers,
            org_policy={org_id: sla.policy_for(org_id, policies) for org_id, _ in weights},
            assignees_for_tier={
                "L1": by_role[Role.agent] + by_role[Role.senior_agent],
                "L2": by_role[Role.senior_agent],
                "manager": by_role[Role.manager],
                "engineering": by_role[Role.senior_agent] + by_role[Role.manager],
            },
            managers=by_role[Role.manager],
            staff_ids=staff_ids,
            staff_names=dict(
                db.session.execute(select(User.id, User.name).where(User.id.in_([s for s, _ in staff]))).all()
            ),
            categories=cat_items,
            slug_of={cid: slug for slug, cid in categories.items()},
            first_ticket_id=(db.session.scalar(select(func.max(Ticket.id))) or 0) + 1,
            batch=args.batch,
        )
        db.session.commit()
        db.session.remove()

        # ---- tickets, events, crossings: batches made in worker processes, inserted here in order
        counts = {"tickets": 0, "events": 0, "open": 0, "crossings": 0}
        t_start = time.perf_counter()
        batches = range((plan.total + plan.batch - 1) // plan.batch)
        sql = {
            name: _insert_sql(table, columns, dialect)
            for name, table, columns in (
                ("tickets", Ticket.__table__, TICKET_COLUMNS),
                ("events", TicketEvent.__table__, EVENT_COLUMNS),
                ("crossings", SlaEvent.__table__, CROSSING_COLUMNS),
                ("checks", SlaCheck.__table__, CHECK_COLUMNS),
            )
        }
        # Bulk loading: the secondary indexes are dropped first and built once at the end (much faster than keeping
        # them up to date row by row); the same definitions come back, as the migrations made them.
        indexes = _secondary_indexes(engine, dialect, ("tickets", "ticket_events", "sla_events", "sla_checks"))
        with engine.begin() as conn:
            for name, _sql in indexes:
                conn.execute(text(f'DROP INDEX "{name}"'))
            triggers = counters.disable_triggers(conn)  # the open-ticket counters are recounted once at the end
        global _PLAN
        _PLAN = plan
        workers = max(1, args.workers)
        engine.dispose()  # no connection crosses the fork
        pool = multiprocessing.get_context("fork").Pool(workers) if workers > 1 else None
        try:
            made = pool.imap(_make_batch, batches) if pool else map(_make_batch, batches)
            for tickets, events, crossings, checks, n_open in made:
                raw = engine.raw_connection()
                try:
                    cursor = raw.cursor()
                    cursor.executemany(sql["tickets"], tickets)
                    cursor.executemany(sql["events"], events)
                    if crossings:
                        cursor.executemany(sql["crossings"], crossings)
                    if checks:
                        cursor.executemany(sql["checks"], checks)
                    raw.commit()
                finally:
                    raw.close()
                counts["tickets"] += len(tickets)
                counts["events"] += len(events)
                counts["crossings"] += len(crossings)
                counts["open"] += n_open
                progress("tickets", counts["tickets"], plan.total, t_start)
        finally:
            if pool:
                pool.close()
                pool.join()
        if plan.total:
            sys.stderr.write("\n")
        t_indexed = time.perf_counter()
        for n, (_name, sql) in enumerate(indexes, start=1):
            with engine.begin() as conn:
                conn.execute(text(sql))
            progress("indexes", n, len(indexes), t_indexed, unit="indexes")
        if indexes:
            sys.stderr.write("\n")
        with engine.begin() as conn:
            counters.enable_triggers(conn, triggers)
        log("open-ticket counters ...")
        counters.recount()
        db.session.commit()
        t_insert = time.perf_counter()

        # ---- sequences, statistics, checkpoint
        with engine.begin() as conn:
            if dialect == "postgresql":
                for table in ("organizations", "users", "tickets", "ticket_events", "sla_events"):
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
            n_tickets = conn.scalar(select(func.count()).select_from(Ticket.__table__))
            n_events = conn.scalar(select(func.count()).select_from(TicketEvent.__table__))
        engine.dispose()

    inserted = counts["tickets"]
    log(
        f"done: {n_tickets:,} tickets, {n_events:,} events in the database "
        f"({inserted:,} generated, {counts['open'] / max(inserted, 1):.1%} open, "
        f"{counts['events'] / max(inserted, 1):.2f} events/ticket, {counts['crossings']:,} SLA crossings recorded, "
        f"{workers} generating process{'es' if workers > 1 else ''})"
    )
    log(
        f"time: setup {t_setup - t0:.1f}s, insert {t_insert - t_setup:.1f}s "
        f"({inserted / max(t_insert - t_setup, 1e-9):,.0f} tickets/s, of which indexes {t_insert - t_indexed:.1f}s), "
        f"analyze {t_end - t_insert:.1f}s, "
        f"total {t_end - t0:.1f}s"
    )


# --------------------------------------------------------------------------- one batch of tickets


@dataclass(frozen=True)
class Plan:
    """What every batch needs, as plain (picklable) data: a worker process makes its batches from this alone."""

    seed: int
    total: int
    start: datetime
    now: datetime
    recorded_until: datetime
    sqlite: bool
    org_weights: list
    org_customers: dict
    org_policy: dict
    assignees_for_tier: dict
    managers: list
    staff_ids: frozenset
    staff_names: dict
    categories: list
    slug_of: dict
    first_ticket_id: int
    batch: int


_PLAN: Plan | None = None  # set before the worker processes fork

TICKET_COLUMNS = (
    "id",
    "subject",
    "description",
    "category_id",
    "priority",
    "status",
    "tier",
    "channel",
    "requester_id",
    "organization_id",
    "assignee_id",
    "follow_up_of_id",
    "created_at",
    "updated_at",
    "first_response_at",
    "solved_at",
    "closed_at",
    "version",
    *CLOCK_COLUMNS,
)
EVENT_COLUMNS = (
    "ticket_id",
    "kind",
    "author_id",
    "body",
    "field",
    "old_value",
    "new_value",
    "ticket_version",
    "created_at",
)
CROSSING_COLUMNS = ("ticket_id", "target", "kind", "at", "due_at")
CHECK_COLUMNS = ("ticket_id", "check_at")  # the sweep's next look at a ticket (``sla_checks``)
_INSTANT_COLUMNS = {
    c
    for c in TICKET_COLUMNS + EVENT_COLUMNS + CROSSING_COLUMNS + CHECK_COLUMNS
    if c.endswith(("_at", "_due", "_since")) or c == "at"
}


def _secondary_indexes(engine, dialect: str, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of the indexes on ``tables`` that no constraint owns."""
    with engine.connect() as conn:
        if dialect == "sqlite":
            rows = conn.execute(
                text(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                    f"AND tbl_name IN ({', '.join(repr(t) for t in tables)}) ORDER BY name"
                )
            )
        else:
            rows = conn.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                    f"AND tablename IN ({', '.join(repr(t) for t in tables)}) "
                    "AND indexname NOT IN (SELECT conname FROM pg_constraint) ORDER BY indexname"
                )
            )
        return [(name, sql) for name, sql in rows]


def _insert_sql(table, columns: tuple[str, ...], dialect: str) -> str:
    """A plain INSERT for the driver's executemany: rows go in as tuples already in the database's own form, without
    SQLAlchemy's per-value processing (most of the cost of a million rows)."""
    mark = "?" if dialect == "sqlite" else "%s"
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"


def _sqlite_instant(value: datetime) -> str:
    """A UTC instant as the portal's UTCDateTime stores it on SQLite: naive UTC with microseconds."""
    return (value if value.tzinfo is UTC else value.astimezone(UTC)).isoformat(" ", "microseconds")[:26]


def _row(values: dict, columns: tuple[str, ...], sqlite: bool) -> tuple:
    if sqlite:
        return tuple(
            [
                (None if (v := values[c]) is None else _sqlite_instant(v)) if c in _INSTANT_COLUMNS else values[c]
                for c in columns
            ]
        )
    return tuple([values[c] for c in columns])


def _lognormal_share(rng: random.Random, mu: float, sigma: float) -> float:
    return rng.lognormvariate(mu, sigma)


def _make_batch(index: int) -> tuple[list, list, list, list, int]:
    """Tickets ``index * batch`` .. of the plan, with their events, recorded SLA crossings and the sweep's next looks,
    as insert-ready tuples.
    Each batch has its own random stream (seed, index): the data does not depend on how many processes made it."""
    from portal.services.sla_engine import evaluate

    plan = _PLAN
    rng = random.Random(plan.seed * 1_000_003 + index)
    pick_org = Picker(rng, plan.org_weights)
    pick_category = Picker(rng, plan.categories)
    pick_priority, pick_tier, pick_channel = Picker(rng, PRIORITIES), Picker(rng, TIERS), Picker(rng, CHANNELS)
    pick_recent_open, pick_old_open = Picker(rng, RECENT_OPEN), Picker(rng, OLD_OPEN)
    now, start, sqlite = plan.now, plan.start, plan.sqlite
    span_s = (now - start).total_seconds()
    tickets, events_out, crossings_out, checks_out, n_open = [], [], [], [], 0
    first = index * plan.batch
    for i in range(first, min(first + plan.batch, plan.total)):
        ticket_id = plan.first_ticket_id + i
        # Creation times grow with the id (as in production); a little jitter, never in the future.
        created = start + timedelta(seconds=span_s * (i + rng.random()) / plan.total)
        age = now - created
        org_id = pick_org()
        requester = rng.choice(plan.org_customers[org_id])
        priority, tier, channel, category_id = pick_priority(), pick_tier(), pick_channel(), pick_category()
        policy = plan.org_policy[org_id]
        fr_limit, res_limit = (timedelta(minutes=m) for m in policy.targets[priority])
        # How long this ticket takes, relative to its targets: most well inside, about one in ten over (a desk
        # that mostly meets its SLAs, with a tail), the resolution some time after the first response.
        fr_delay = fr_limit * _lognormal_share(rng, -1.1, 0.85)
        res_delay = max(res_limit * _lognormal_share(rng, -0.75, 0.6), fr_delay * 1.5 + timedelta(minutes=5))
        assignees = plan.assignees_for_tier[tier]
        assignee = rng.choice(assignees) if assignees else None
        # A long tail of old tickets waits on someone (the customer, a third party) instead of being solved.
        waiting = age.days >= 14 and rng.random() < 0.06
        desc = _description(rng)
        history = [("created", requester, desc, None, None, None, created)]
        status, first_response, solved_at, closed_at = "new", None, None, None
        if created + fr_delay <= now:
            reply_at = created + fr_delay
            history.append(("public_reply", assignee, rng.choice(REPLY_BODIES), None, None, None, reply_at))
            first_response = reply_at
            status = "open"
        if first_response is not None and not waiting and created + res_delay <= now:
            solve_at = created + res_delay
            _middle(rng, history, first_response, solve_at, requester, assignee, plan)
            history.append(("field_change", assignee, "", "status", "open", "solved", solve_at))
            status, solved_at = "solved", solve_at
            if solve_at + timedelta(days=4) <= now and rng.random() < 0.96:
                closed_at = solve_at + timedelta(days=4)
                history.append(("field_change", None, "", "status", "solved", "closed", closed_at))
                status = "closed"
        elif first_response is not None:
            # Still open: some conversation so far, and perhaps waiting on the customer or a third party.
            _middle(rng, history, first_response, now, requester, assignee, plan)
            wait = pick_old_open() if waiting else pick_recent_open()
            if wait in ("pending", "on_hold"):
                at = history[-1][6] + (now - history[-1][6]) * rng.random()
                history.append(("field_change", assignee, "", "status", "open", wait, at))
                status = wait
        else:
            # Nothing public from staff yet: perhaps the customer adding detail, or an internal note.
            if rng.random() < 0.4:
                at = created + (now - created) * rng.random()
                history.append(("public_reply", requester, rng.choice(CUSTOMER_BODIES), None, None, None, at))
            if rng.random() < 0.3:
                assignee = None  # not picked up yet
        rows = [
            dict(
                ticket_id=ticket_id,
                kind=kind,
                author_id=author,
                body=body,
                field=field,
                old_value=old,
                new_value=new,
                ticket_version=version,
                created_at=at,
            )
            for version, (kind, author, body, field, old, new, at) in enumerate(history, start=1)
        ]
        facts = evaluate(created, priority, _steps(rows, plan.staff_ids), policy, now)
        # Every change looks at the clock (and records what it crossed since), so does the sweep, up to the backlog.
        clock, crossings = _sla_columns(facts, max(plan.recorded_until, history[-1][6]))
        check_at = clock.pop("sla_check_at")
        ticket = dict(
            id=ticket_id,
            subject=_subject(rng),
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
            updated_at=history[-1][6],
            first_response_at=first_response,
            solved_at=solved_at,
            closed_at=closed_at,
            version=len(history),
            **clock,
        )
        tickets.append(_row(ticket, TICKET_COLUMNS, sqlite))
        events_out.extend(_row(r, EVENT_COLUMNS, sqlite) for r in rows)
        crossings_out.extend(_row(dict(ticket_id=ticket_id, **c), CROSSING_COLUMNS, sqlite) for c in crossings)
        if check_at is not None:
            checks_out.append(_row(dict(ticket_id=ticket_id, check_at=check_at), CHECK_COLUMNS, sqlite))
        n_open += status in ("new", "open", "pending", "on_hold")
    return tickets, events_out, crossings_out, checks_out, n_open


def _middle(rng, history, after: datetime, before: datetime, requester, assignee, plan) -> None:
    """0–2 events between the first response and ``before``: a customer reply, an internal note, a reassignment."""
    for _ in range(rng.choice((0, 0, 1, 1, 2))):
        at = after + (before - after) * rng.uniform(0.05, 0.95)
        roll = rng.random()
        if roll < 0.45:
            history.append(("public_reply", requester, rng.choice(CUSTOMER_BODIES), None, None, None, at))
        elif roll < 0.8 and assignee:
            history.append(("internal_note", assignee, rng.choice(NOTE_BODIES), None, None, None, at))
        elif assignee:
            history.append(("field_change", assignee, "", "assignee", None, plan.staff_names.get(assignee), at))
    history[1:] = sorted(history[1:], key=lambda h: h[6])


def _subject(rng: random.Random) -> str:
    a, b, c = (rng.choice(part) for part in SUBJECT_PARTS)
    if rng.random() < 0.15:  # a site or file name makes some subjects unique, as real ones are
        c = f" for {rng.choice(SITE_WORDS)} {rng.randint(1, 400)}" if rng.random() < 0.6 else f" ({_file_name(rng)})"
    return f"{a} {b}{c}"


def _description(rng: random.Random) -> str:
    sentences = rng.sample(DESCRIPTION_SENTENCES, rng.randint(2, 5))
    # Details that vary from ticket to ticket: a file, a site, an order or meter number (the rare words of search).
    detail = rng.random()
    if detail < 0.35:
        sentences.append(f"The file was {_file_name(rng)}.")
    elif detail < 0.6:
        sentences.append(
            f"It concerns {rng.choice(SITE_WORDS)} {rng.randint(1, 400)} (meter {rng.randint(10**5, 10**7)})."
        )
    elif detail < 0.75:
        sentences.append(f"Purchase order {rng.choice('ABCDEFGHJK')}{rng.randint(10**5, 10**6 - 1)} is affected.")
    rng.shuffle(sentences)
    return " ".join(sentences)


def _file_name(rng: random.Random) -> str:
    stem = rng.choice(("scope1", "scope2", "scope3", "energy", "water", "waste", "travel", "fleet", "suppliers"))
    return (
        f"{stem}_{rng.randint(2019, 2026)}{rng.randint(1, 12):02d}_{rng.randint(1, 9999):04d}.{rng.choice(FILE_TYPES)}"
    )


SITE_WORDS = ["Plant", "Warehouse", "Office", "Depot", "Mill", "Store", "Terminal", "Farm", "Campus", "Site"]
FILE_TYPES = ["csv", "xlsx", "json", "xml", "pdf"]


def _steps(events: list[dict], staff_ids: set[int]) -> list:
    """The clock-relevant steps of a generated history, as ``portal.services.sla.histories`` reads them from the
    database: staff public replies, status and priority changes, in order."""
    from portal.services.sla_engine import Step

    steps = []
    for e in events[1:]:
        if e["kind"] == "public_reply":
            if e["author_id"] in staff_ids:
                steps.append(Step(e["created_at"], "staff_reply"))
        elif e["kind"] == "field_change" and e["field"] in ("status", "priority"):
            steps.append(Step(e["created_at"], e["field"], e["new_value"]))
    return steps


def _sla_columns(facts, recorded_until: datetime) -> tuple[dict, list[dict]]:
    """The ticket's SLA columns exactly as ``portal.services.sla.refresh`` writes them (``store`` and the sweep's next
    check), and the crossings a sweep running all along would have recorded by ``recorded_until``."""
    fr, res = facts.first_response, facts.resolution
    columns = dict(
        first_response_due=fr.due,
        first_response_risk_at=fr.risk_at if fr.ticking else None,
        resolution_due=res.due,
        resolution_risk_at=res.risk_at if res.ticking else None,
        paused_since=res.paused_since,
        paused_seconds=int(res.paused.total_seconds()),
        next_due_at=min((f.due for f in facts if f.ticking and f.due is not None), default=None),
    )
    crossings, recorded = [], set()
    checks = []
    for name, fact in (("first_response", fr), ("resolution", res)):
        columns[f"{name}_breached_at"] = fact.breached_at
        columns[f"{name}_breach_priority"] = fact.breach_priority
        columns[f"{name}_achieved_at"] = fact.achieved_at
        columns[f"{name}_decided_at"] = fact.breached_at or fact.achieved_at
        for kind, at in (("at_risk", fact.risk_reached_at), ("breached", fact.breached_at)):
            if at is not None and at <= recorded_until:
                recorded.add((name, kind))
                crossings.append(dict(target=name, kind=kind, at=at, due_at=fact.due))
        if fact.ticking:
            checks += [
                at
                for kind, at in (("at_risk", fact.risk_at), ("breached", fact.due))
                if at is not None and (name, kind) not in recorded
            ]
    columns["sla_check_at"] = min(checks, default=None)
    return columns, crossings


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
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="processes generating batches while this one inserts (default: 2, or 1 on one core)",
    )
    parser.add_argument("--fresh", action="store_true", help="drop an existing PostgreSQL schema first")
    parser.add_argument(
        "--now",
        type=lambda v: datetime.fromisoformat(v).astimezone(UTC),
        default=None,
        help="the instant the history ends at, ISO 8601 (default: now)",
    )
    parser.add_argument(
        "--sweep-backlog-minutes",
        type=float,
        default=0,
        help="leave the SLA crossings of the last N minutes unrecorded, for the sweep to find (default 0)",
    )
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
