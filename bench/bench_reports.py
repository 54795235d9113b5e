"""Timings of the reports engine: the team summary and the agents report of a busy month.

    .venv/bin/python bench/bench_reports.py --database-url sqlite:////tmp/bench_reports.db [--tickets 100000]
        [--month-tickets 10000] [--repeat 20] [--reuse]
    .venv/bin/python bench/bench_reports.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/reports_bench

Builds the schema with the migrations (an existing SQLite file is deleted; a PostgreSQL schema is dropped), seeds
the demo team, then bulk-inserts ``--tickets`` tickets whose histories carry what the reports read: assignments
with the assignee's id, staff and customer replies, internal notes, status changes (solves, ~8 % reopens, closes
four days after the solve), priority raises, tier escalations (by people and by the system), CSAT ratings, the SLA
facts of both targets (24/7 default targets) and a few KB articles and revisions. ``--month-tickets`` of them are
created in the last complete calendar month (UTC), the rest spread over the ``--days`` before now. With
``--reuse`` an existing database with enough tickets is timed as it is.

Then it times, each from fresh facts (nothing cached between runs): ``summary`` and ``agents`` of the busy month,
both of them from one shared ``ReportData`` (what a report page does), and ``summary`` of a quiet month a year
earlier; it prints median, p95, mean and min in ms. Goals: summary ≤ 300 ms, agents ≤ 500 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import timeit
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from generate import Picker, _fast_sqlite, log, prepare_database, progress  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

PRIORITIES = [("critical", 2), ("high", 13), ("medium", 50), ("low", 35)]
LIMITS = {"critical": (15, 240), "high": (60, 480), "medium": (240, 1440), "low": (1440, 4320)}  # minutes
RAISE = {"low": "medium", "medium": "high", "high": "critical"}
TIERS = ["L1", "L2", "manager", "engineering"]


def busy_month(now: datetime) -> tuple[date, date]:
    """The last complete calendar month (UTC) before ``now``."""
    first_this = now.date().replace(day=1)
    start = (first_this - timedelta(days=1)).replace(day=1)
    return start, first_this


def bench_now(days_after: int) -> datetime:
    """The instant the reports are run at: ``days_after`` days into the month after the busy month (the last
    complete month before today), so the history goes on past the period's end as it does in real use."""
    _start, end = busy_month(datetime.now(UTC))
    return datetime.combine(end, datetime.min.time(), UTC) + timedelta(days=days_after, hours=9, minutes=30)


class Builder:
    """Histories for one ticket at a time, as rows for Core ``executemany``."""

    def __init__(self, rng: random.Random, now: datetime, staff: dict, customers: list[int], categories: list[int]):
        self.rng, self.now = rng, now
        self.agents = staff["agent"] + staff["senior_agent"]
        self.seniors, self.managers = staff["senior_agent"], staff["manager"]
        self.customers, self.categories = customers, categories
        self.pick_priority = Picker(rng, PRIORITIES)
        self.names = staff["names"]
        self.next_event = 1
        self.tickets: list[dict] = []
        self.events: list[dict] = []
        self.surveys: list[dict] = []

    def _event(self, ticket_id, at, kind, author, field=None, old=None, new=None, new_user=None) -> None:
        self.events.append(
            dict(
                id=self.next_event,
                ticket_id=ticket_id,
                kind=kind,
                author_id=author,
                body="",
                field=field,
                old_value=old,
                new_value=new,
                new_user_id=new_user,
                ticket_version=1,
                created_at=at,
            )
        )
        self.next_event += 1

    def ticket(self, ticket_id: int, created: datetime) -> None:
        rng, now = self.rng, self.now
        requester = rng.choice(self.customers)
        priority = initial = self.pick_priority()
        self._event(ticket_id, created, "created", requester)
        t = created + timedelta(minutes=rng.uniform(0.5, 20))
        assignee = rng.choice(self.agents)
        if t < now:
            self._event(ticket_id, t, "field_change", None, "assignee", None, self.names[assignee], assignee)
        else:
            assignee = None
        fr_limit, res_limit = LIMITS[priority]
        reply_at = created + timedelta(minutes=fr_limit * rng.lognormvariate(-0.9, 0.8))
        raised_at = None
        if rng.random() < 0.05 and priority in RAISE:
            raised_at = created + timedelta(minutes=rng.uniform(1, 60))
            if raised_at < now:
                priority = RAISE[priority]
                self._event(
                    ticket_id, raised_at, "field_change", rng.choice(self.managers), "priority", initial, priority
                )
                fr_limit, res_limit = LIMITS[priority]
            else:
                raised_at = None
        status, first_reply, solves, tier = "new", None, [], "L1"
        if reply_at < now and assignee is not None:
            first_reply = reply_at
            self._event(ticket_id, reply_at, "public_reply", assignee)
            self._event(ticket_id, reply_at, "field_change", assignee, "status", "new", "open")
            status = "open"
            t = reply_at
            if rng.random() < 0.3:
                t += timedelta(minutes=rng.uniform(5, 600))
                if t < now:
                    self._event(ticket_id, t, "internal_note", assignee)
            if rng.random() < 0.1:
                t += timedelta(minutes=rng.uniform(5, 300))
                if t < now:
                    by_system = rng.random() < 0.3
                    author = None if by_system else assignee
                    self._event(ticket_id, t, "field_change", author, "tier", "L1", "L2")
                    tier = "L2"
                    assignee = rng.choice(self.seniors)
                    self._event(ticket_id, t, "field_change", None, "assignee", None, self.names[assignee], assignee)
            if rng.random() < 0.35:
                t += timedelta(minutes=rng.uniform(10, 900))
                if t < now:
                    self._event(ticket_id, t, "public_reply", requester)
            solve_at = t + timedelta(minutes=res_limit * rng.lognormvariate(-1.2, 0.9))
            settled = 0.997 if now - created > timedelta(days=30) else 0.97  # a few old tickets stay open
            if solve_at < now and rng.random() < settled:
                self._event(ticket_id, solve_at, "field_change", assignee, "status", "open", "solved")
                status, solves = "solved", [solve_at]
                if rng.random() < 0.08:
                    reopen_at = solve_at + timedelta(hours=rng.uniform(1, 48))
                    if reopen_at < now:
                        self._event(ticket_id, reopen_at, "public_reply", requester)
                        self._event(ticket_id, reopen_at, "field_change", requester, "status", "solved", "open")
                        status = "open"
                        again = reopen_at + timedelta(hours=rng.uniform(1, 30))
                        if again < now:
                            self._event(ticket_id, again - timedelta(minutes=5), "public_reply", assignee)
                            self._event(ticket_id, again, "field_change", assignee, "status", "open", "solved")
                            status = "solved"
                            solves.append(again)
                if status == "solved":
                    if rng.random() < 0.3:
                        rated = solves[-1] + timedelta(hours=rng.uniform(0.5, 72))
                        if rated < now:
                            rating = rng.choices([1, 2, 3, 4, 5], [3, 4, 8, 30, 55])[0]
                            self.surveys.append(
                                dict(
                                    ticket_id=ticket_id,
                                    requester_id=requester,
                                    cycle=len(solves),
                                    state="answered",
                                    offered_at=solves[-1],
                                    expires_at=solves[-1] + timedelta(days=14),
                                    rating=rating,
                                    comment="",
                                    rated_at=rated,
                                    source="email",
                                )
                            )
                    closed_at = solves[-1] + timedelta(days=4)
                    if closed_at < now:
                        self._event(ticket_id, closed_at, "field_change", None, "status", "solved", "closed")
                        status = "closed"
            elif rng.random() < 0.3:
                pending_at = t + timedelta(minutes=rng.uniform(5, 120))
                if pending_at < now:
                    self._event(ticket_id, pending_at, "field_change", assignee, "status", "open", "pending")
                    status = "pending"
        self.tickets.append(
            dict(
                id=ticket_id,
                subject=f"Report bench ticket {ticket_id}",
                description="…",
                category_id=rng.choice(self.categories),
                priority=priority,
                status=status,
                tier=tier,
                channel="web",
                requester_id=requester,
                organization_id=None,
                assignee_id=assignee,
                created_at=created,
                updated_at=created,
                first_response_at=first_reply,
                solved_at=solves[-1] if solves else None,
                version=1,
                **self._sla(created, priority, first_reply, solves, status, raised_at),
            )
        )

    def _sla(self, created, priority, first_reply, solves, status, raised_at) -> dict:
        """The facts of both targets, 24/7 and without pauses (close enough for timing the reports)."""
        fr_limit, res_limit = (timedelta(minutes=m) for m in LIMITS[priority])
        columns = {}
        for name, limit, achieved in (
            (
                "first_response",
                fr_limit,
                min([t for t in (first_reply, solves[0] if solves else None) if t], default=None),
            ),
            ("resolution", res_limit, solves[-1] if solves and status in ("solved", "closed") else None),
        ):
            due = created + limit
            breached = None
            if (achieved is None and due < self.now) or (achieved is not None and achieved > due):
                breached = max(due, raised_at) if raised_at and raised_at > due else due
            columns.update(
                {
                    f"{name}_due": due if achieved is None else None,
                    f"{name}_achieved_at": achieved,
                    f"{name}_breached_at": breached,
                    f"{name}_breach_priority": priority if breached else None,
                    f"{name}_decided_at": breached or achieved,
                }
            )
        return columns


def generate(app, args, now: datetime) -> None:
    from flask_migrate import upgrade

    from portal.demo import seed
    from portal.extensions import db
    from portal.models import (
        Article,
        ArticleRevision,
        Category,
        CsatSurvey,
        KbCategory,
        Organization,
        Role,
        Ticket,
        TicketEvent,
        User,
    )
    from portal.services.accounts import hash_password

    engine = db.engine
    log(f"schema: migrations on {engine.url.render_as_string(hide_password=True)}")
    upgrade(revision="heads")
    seed(echo=lambda m: log("  " + m))
    db.session.commit()
    rng = random.Random(args.seed)
    staff = {
        r.value: list(db.session.scalars(select(User.id).where(User.role == r))) for r in Role if r.value != "customer"
    }
    staff["names"] = dict(db.session.execute(select(User.id, User.name).where(User.role != Role.customer)).all())
    org_id = db.session.scalar(select(Organization.id).order_by(Organization.id))
    next_user = (db.session.scalar(select(func.max(User.id))) or 0) + 1
    password = hash_password("bench-only")
    customers = [
        dict(
            id=next_user + i,
            email=f"bench.customer{i}@bench-reports.test",
            name=f"Bench Customer {i}",
            password_hash=password,
            role="customer",
            organization_id=org_id,
            timezone="UTC",
            specializations=[],
            is_active_account=True,
            is_approved=True,
            created_at=now - timedelta(days=args.days + 30),
        )
        for i in range(500)
    ]
    with engine.begin() as conn:
        conn.execute(insert(User.__table__), customers)
    builder = Builder(rng, now, staff, [c["id"] for c in customers], list(db.session.scalars(select(Category.id))))
    builder.next_event = (db.session.scalar(select(func.max(TicketEvent.id))) or 0) + 1
    first_id = (db.session.scalar(select(func.max(Ticket.id))) or 0) + 1
    month_start, month_end = (datetime.combine(d, datetime.min.time(), UTC) for d in busy_month(now))
    span_start = now - timedelta(days=args.days)
    # Creation instants in id order: the rest of the history spread over the span before the busy month, then the
    # busy month and the days after it (up to now) at the busy month's density.
    busy_span = month_end - month_start
    dense = int(args.month_tickets * (now - month_end) / busy_span)
    quiet = max(0, args.tickets - args.month_tickets - dense)
    instants = [span_start + (month_start - span_start) * rng.random() for _ in range(quiet)]
    instants += [month_start + busy_span * rng.random() for _ in range(args.month_tickets)]
    instants += [month_end + (now - month_end) * rng.random() for _ in range(dense)]
    instants.sort()
    db.session.remove()
    started = time.perf_counter()

    def flush() -> None:
        with engine.begin() as conn:
            conn.execute(insert(Ticket.__table__), builder.tickets)
            conn.execute(insert(TicketEvent.__table__), builder.events)
            if builder.surveys:
                conn.execute(insert(CsatSurvey.__table__), builder.surveys)
        builder.tickets.clear(), builder.events.clear(), builder.surveys.clear()

    for i, created in enumerate(instants):
        builder.ticket(first_id + i, created)
        if len(builder.tickets) >= 5000:
            flush()
            progress("tickets", i + 1, len(instants), started)
    if builder.tickets:
        flush()
    progress("tickets", len(instants), len(instants), started)
    sys.stderr.write("\n")
    # A little knowledge base: articles published over the span, some edited later.
    category = db.session.scalar(select(KbCategory.id))
    writers = staff["agent"] + staff["senior_agent"] + staff["admin"]
    with engine.begin() as conn:
        for n in range(300):
            written = span_start + (now - span_start) * rng.random()
            author = rng.choice(writers)
            published = written + timedelta(days=1) if rng.random() < 0.8 else None
            article_id = conn.execute(
                insert(Article.__table__).returning(Article.__table__.c.id),
                dict(
                    slug=f"bench-article-{n}",
                    title=f"Bench article {n}",
                    summary="",
                    body_markdown="…",
                    category_id=category,
                    status="published" if published else "draft",
                    internal_only=False,
                    tags="",
                    author_id=author,
                    created_at=written,
                    updated_at=written,
                    published_at=published,
                    view_count=0,
                    helpful_yes=0,
                    helpful_no=0,
                    needs_update=False,
                    version=1,
                ),
            ).scalar_one()
            revisions = [written] + sorted(
                written + timedelta(days=rng.uniform(2, 200)) for _ in range(rng.randint(0, 3))
            )
            conn.execute(
                insert(ArticleRevision.__table__),
                [
                    dict(
                        article_id=article_id,
                        version=v + 1,
                        title="t",
                        summary="",
                        body_markdown="…",
                        author_id=rng.choice(writers),
                        note="",
                        created_at=at,
                    )
                    for v, at in enumerate(revisions)
                ],
            )
    log("ANALYZE ...")
    if engine.dialect.name == "postgresql":
        for table in ("users", "tickets", "ticket_events", "csat_surveys", "kb_articles", "kb_article_revisions"):
            with engine.begin() as conn:
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
                )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    log(f"generated in {time.perf_counter() - started:.1f}s")


def timed(label: str, call, repeat: int) -> dict:
    from portal.extensions import db

    samples, cpu = [], []
    result = None
    for _ in range(repeat):
        db.session.remove()
        started, started_cpu = time.perf_counter(), time.process_time()
        result = call()
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]
    print(
        f"{label:<44} median {statistics.median(samples):7.1f} ms  p95 {p95:7.1f} ms  "
        f"mean {statistics.fmean(samples):7.1f} ms  min {samples[0]:7.1f} ms  "
        f"(this process's CPU: median {statistics.median(cpu):6.1f} ms; n={repeat})",
        flush=True,
    )
    return {"result": result, "samples": samples}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), required=False)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--month-tickets", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=3 * 365)
    parser.add_argument("--days-after", type=int, default=15, help="days into the next month the reports run at")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--reuse", action="store_true", help="time an existing database that has enough tickets")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url (or DATABASE_URL) is required")
    url = args.database_url
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    os.environ.setdefault("PORTAL_ENV", "development")
    from sqlalchemy import event

    from portal import create_app
    from portal.extensions import db
    from portal.models import Ticket
    from portal.services import reports
    from portal.services.reports import Period

    now = bench_now(args.days_after)
    config = {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-reports", "RATELIMIT_ENABLED": False}
    existing = 0
    if args.reuse:
        app = create_app(config)
        with app.app_context():
            try:
                existing = db.session.scalar(select(func.count()).select_from(Ticket)) or 0
            except Exception:
                existing = 0
            db.session.remove()
            db.engine.dispose()
    if existing < args.tickets:
        prepare_database(url, fresh=True)
        app = create_app(config)
        with app.app_context():
            if db.engine.dialect.name == "sqlite":
                event.listen(db.engine, "connect", _fast_sqlite)
                db.engine.dispose()
            generate(app, args, now)
            db.session.remove()
            db.engine.dispose()
    else:
        log(f"reusing {existing:,} tickets")
    app = create_app(config)
    with app.app_context():
        total = db.session.scalar(select(func.count()).select_from(Ticket))
        month = Period(*busy_month(now), "UTC")
        quiet = Period.month(month.start_date - timedelta(days=365), "UTC")
        reference = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6
        print(
            f"CPU reference: sum(range(1000)) takes {reference:.1f} µs here (about 5 µs on an idle laptop core; "
            f"a busy shared machine shows 2-4 times that, and every timing below with it)",
            flush=True,
        )
        print(
            f"database: {db.engine.dialect.name}, {total:,} tickets; busy month {month.start_date:%Y-%m}, "
            f"reports run at {now:%Y-%m-%d %H:%M} UTC",
            flush=True,
        )
        timed("warm-up", lambda: reports.summary(month, now), 2)
        s = timed(f"summary {month.start_date:%Y-%m} (goal 300 ms)", lambda: reports.summary(month, now), args.repeat)
        timed(f"agents {month.start_date:%Y-%m} (goal 500 ms)", lambda: reports.agents(month, now), args.repeat)

        def page():
            data = reports.facts(month, now)
            return reports.summary(data), reports.agents(data)

        timed("summary + agents from one ReportData", page, args.repeat)
        timed(f"summary {quiet.start_date:%Y-%m} (a quiet month)", lambda: reports.summary(quiet, now), args.repeat)
        figures = s["result"]
        print(
            f"busy month: {figures['tickets_created']:,} created, {figures['tickets_solved']:,} solved, "
            f"response SLA {figures['response_sla']}, open at end {figures['open_at_end']}, "
            f"csat {figures['csat']['responses']} responses",
            flush=True,
        )


if __name__ == "__main__":
    main()
