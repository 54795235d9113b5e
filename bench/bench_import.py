"""Ticket history import: how long `flask tickets import` takes for a realistic file.

    .venv/bin/python bench/bench_import.py [--tickets 5000] [--database-url sqlite:////tmp/bench_import.db]
        [--file /tmp/bench_import.jsonl] [--seed 1] [--batch-size 500]

Writes a JSON Lines file of N tickets (about 8 events each: replies and internal notes, assignments, pending and
back, priority changes, escalations, solves, reopens, closes, ratings; requesters across 40 organizations; staff are
the demo team's emails), builds a fresh database with the migrations and the demo seed (a SQLite file is deleted
first; a PostgreSQL database is wiped), then times the import as the command runs it — check, store, SLA facts,
commit, search index — printing progress, and then a second import of the same file (everything already imported)
and a dry run into an empty copy. Goal: 5,000 tickets / 40,000 events ≤ 20 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

os.environ.setdefault("PORTAL_ENV", "development")

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PRIORITIES = [("critical", 3), ("high", 15), ("medium", 50), ("low", 32)]
CATEGORIES = [("technical", 25), ("integration", 15), ("account", 15), ("data", 25), ("training", 10), ("general", 7)]
CHANNELS = [("web", 55), ("email", 30), ("chat", 8), ("api", 4), ("phone", 3)]
SUBJECTS = [
    "Bulk import rejects kWh",
    "Scope 2 totals differ from last quarter",
    "SAP connector stopped syncing",
    "Cannot export the CSRD datapoints",
    "SSO login loops back to the sign-in page",
    "IoT meter feed shows gaps",
    "Question about emission factor sets",
    "Dashboard slow for five years of data",
    "Wrong rounding in the GRI 305 disclosure",
    "Access denied to the audit trail",
]
CUSTOMER_TEXT = [
    "Row 12 fails with 'unit kWh not recognised'. The same template worked last quarter.",
    "Here is the file you asked for; the upload was at 09:40 CET.",
    "We still see the problem after the change, see the new screenshot.",
    "Is there an update on this? Our auditors need the figures by Friday.",
    "Thanks, that worked for us.",
]
STAFF_TEXT = [
    "Thanks for the details. I have reproduced the issue and am looking into it now.",
    "The unit column needs 'kWh' without the trailing space; the validator became strict in release 4.12.",
    "Could you send us the file you uploaded and the time of the failed attempt?",
    "I have reset the connector credentials; the next sync runs within the hour.",
    "A fix is scheduled for the next release. Meanwhile please use the PPTX export.",
]
NOTES = [
    "Checked the configuration: the boundary mapping looks wrong for two sites.",
    "Reproduced on staging; the validator change is the cause.",
    "Customer is on the enterprise plan; called them to confirm.",
]


L2_REASONS = ["technical_complexity", "integration", "data_corruption", "security"]
RATINGS = [(5, 55), (4, 25), (3, 10), (2, 6), (1, 4)]


def pick(rng: random.Random, items):
    return rng.choices([v for v, _ in items], weights=[w for _, w in items])[0]


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


class Timeline:
    """The events of one generated ticket, each a random while after the one before (never after ``NOW``)."""

    def __init__(self, rng: random.Random, created: datetime) -> None:
        self.rng, self.at, self.events = rng, created, []

    def add(self, minutes: float, **event) -> None:
        self.at = min(self.at + timedelta(minutes=self.rng.expovariate(1 / minutes)), NOW - timedelta(seconds=1))
        self.events.append({"at": iso(self.at), **event})


def ticket(rng: random.Random, number: int, customer: tuple[str, str, str], team: dict[str, list[str]]) -> dict:
    """One generated line: a conversation, maybe pending and back, a raise, an escalation, solves and a rating."""
    email, name, org = customer
    created = NOW - timedelta(days=rng.uniform(0.05, 365), microseconds=rng.randint(0, 999_999))
    line = Timeline(rng, created)
    agent = rng.choice(team["agents"])
    priority = pick(rng, PRIORITIES)
    if rng.random() < 0.9:
        line.add(20, type="assign", author=agent, to=agent)
    line.add(90, type="reply", author=agent, public=True, body=rng.choice(STAFF_TEXT))
    if rng.random() < 0.5:
        line.add(5, type="status", author=agent, to="open")
    if rng.random() < 0.35:
        line.add(2, type="status", author=agent, to="pending")
        line.add(300, type="reply", author=email, public=True, body=rng.choice(CUSTOMER_TEXT))
        line.add(0.5, type="status", author=email, to="open")
    for _ in range(rng.choice([0, 1, 1, 2])):
        line.add(240, type="reply", author=email, public=True, body=rng.choice(CUSTOMER_TEXT))
        line.add(60, type="reply", author=agent, public=True, body=rng.choice(STAFF_TEXT))
    if rng.random() < 0.15:
        raised = "critical" if priority in ("high", "critical") else rng.choice(["critical", "high"])
        if raised != priority:
            line.add(30, type="priority", author=agent, to=raised)
    if rng.random() < 0.3:
        line.add(30, type="reply", author=agent, public=False, body=rng.choice(NOTES))
    if rng.random() < 0.15:
        senior = rng.choice(team["seniors"])
        line.add(20, type="escalate", author=agent, to="L2", reason=rng.choice(L2_REASONS))
        line.add(10, type="assign", author=senior, to=senior)
        line.add(60, type="reply", author=senior, public=True, body=rng.choice(STAFF_TEXT))
        agent = senior
        if rng.random() < 0.15:
            line.add(30, type="escalate", author=senior, to="manager", reason="customer_escalation")
            agent = rng.choice(team["managers"])
            line.add(10, type="assign", author=agent, to=agent)
    if (NOW - created).days >= 3 or rng.random() < 0.4:  # recent tickets are mostly still open
        line.add(240, type="status", author=agent, to="solved")
        if rng.random() < 0.3:
            line.add(600, type="csat", author=email, rating=pick(rng, RATINGS))
        if rng.random() < 0.08:
            line.add(600, type="reply", author=email, public=True, body=rng.choice(CUSTOMER_TEXT))
            line.add(0.5, type="status", author=email, to="open")
            line.add(120, type="reply", author=agent, public=True, body=rng.choice(STAFF_TEXT))
            line.add(60, type="status", author=agent, to="solved")
        if rng.random() < 0.5:
            line.add(60 * 24 * 3, type="status", author=None if rng.random() < 0.5 else agent, to="closed")
    return {
        "external_id": f"ZD-{100000 + number}",
        "subject": rng.choice(SUBJECTS),
        "description": " ".join(rng.sample(CUSTOMER_TEXT, 2)),
        "category": pick(rng, CATEGORIES),
        "priority": priority,
        "channel": pick(rng, CHANNELS),
        "requester": {"email": email, "name": name, "organization": org},
        "created_at": iso(created),
        "events": line.events,
    }


def generate(path: Path, tickets: int, seed: int) -> tuple[int, int]:
    """Write the file; returns (tickets, events)."""
    from portal.demo import TEAM
    from portal.models import Role

    rng = random.Random(seed)
    team = {
        key: [m.email for m in TEAM if m.role is role]
        for key, role in (("agents", Role.agent), ("seniors", Role.senior_agent), ("managers", Role.manager))
    }
    orgs = [f"Import Org {n:02d} GmbH" for n in range(1, 41)]
    customers = [(f"customer{n:04d}@import{n % 40:02d}.test", f"Customer {n:04d}", orgs[n % 40]) for n in range(1, 801)]
    events = 0
    with path.open("w", encoding="utf-8") as out:
        for number in range(tickets):
            line = ticket(rng, number, rng.choice(customers), team)
            events += len(line["events"])
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return tickets, events


def prepare(url: str) -> None:
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)


def build_app(url: str, index_dir: str):
    from portal import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench-import-" + "x" * 40,
            "RATELIMIT_ENABLED": False,
            "INDEX_DIR": index_dir,
        }
    )


def fresh_database() -> None:
    from flask_migrate import upgrade

    from portal.demo import seed
    from portal.extensions import db

    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(revision="heads")
    seed(echo=lambda *_: None)
    db.session.commit()


class Timer:
    """Time spent in a few functions of the import (wrapped for the run)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    def wrap(self, owner, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.totals[label] = self.totals.get(label, 0.0) + time.perf_counter() - start

        setattr(owner, name, timed)


def run_import(path: Path, batch_size: int, *, dry_run: bool = False):
    from portal.services.history_import import import_lines

    def progress(result) -> None:
        rate = result.lines / result.seconds if result.seconds else 0
        verb = "valid" if dry_run else "imported"
        sys.stderr.write(
            f"  {result.lines:,} lines: {result.imported:,} {verb}, {result.already_imported:,} already imported, "
            f"{len(result.errors)} failed — {rate:,.0f} lines/s, {result.seconds:.1f}s\n"
        )
        sys.stderr.flush()

    with path.open("rb") as stream:
        return import_lines(stream, dry_run=dry_run, batch_size=batch_size, progress=progress, now=NOW)


def count(model, *where) -> int:
    from portal.extensions import db

    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def timed_import(path: Path, args, events: int) -> None:
    """The measured import, its breakdown, what it stored, then a second import of the same file."""
    from portal.models import OutboxMessage, SlaEvent, Ticket, TicketEvent
    from portal.services import history_import, sla

    outbox_before = count(OutboxMessage)
    timer = Timer()
    timer.wrap(history_import, "plan_line", "check the lines")
    timer.wrap(history_import.Writer, "store", "store rows and SLA facts (flush)")
    timer.wrap(sla, "refresh", "sla.refresh (part of the store)")
    timer.wrap(history_import, "index_documents", "search index")
    wall, cpu = time.perf_counter(), time.process_time()
    result = run_import(path, args.batch_size)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"import: {result.imported:,} tickets in {wall:.1f}s wall, {cpu:.1f}s CPU of this process "
        f"({result.imported / wall:,.0f} tickets/s, {events / wall:,.0f} file events/s); {len(result.errors)} failed; "
        f"goal ≤ 20 s: {'met' if wall <= 20 else 'NOT met'}"
    )
    commit = wall - sum(v for k, v in timer.totals.items() if not k.startswith("sla."))
    for label, seconds in [*timer.totals.items(), ("commits, lookups and the rest", commit)]:
        print(f"  {label}: {seconds:.1f}s")
    print(
        f"  stored: {count(Ticket, Ticket.external_id.is_not(None)):,} imported tickets, "
        f"{count(TicketEvent):,} ticket events in all, {count(SlaEvent):,} SLA events; "
        f"outbox rows added: {count(OutboxMessage) - outbox_before}"
    )
    for error in result.errors[:5]:
        print(f"  line {error.line}: {error.reason}")
    start = time.perf_counter()
    again = run_import(path, args.batch_size)
    print(
        f"second import of the same file: {again.imported} imported, {again.already_imported:,} already imported "
        f"in {time.perf_counter() - start:.1f}s"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--database-url", default="sqlite:////tmp/bench_import.db")
    parser.add_argument("--file", default=str(Path(tempfile.gettempdir()) / "bench_import.jsonl"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args(argv)
    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    path = Path(args.file)
    started = time.perf_counter()
    tickets, events = generate(path, args.tickets, args.seed)
    print(
        f"file: {path} — {tickets:,} tickets, {events:,} events, {path.stat().st_size / 1e6:.1f} MB "
        f"(written in {time.perf_counter() - started:.1f}s)"
    )
    for dry_run in (False, True):
        prepare(url)
        index_dir = tempfile.mkdtemp(prefix="bench-import-index-")
        try:
            with build_app(url, index_dir).app_context():
                from portal.extensions import db

                fresh_database()
                if not dry_run:
                    print(f"database: {db.engine.dialect.name} ({db.engine.url.render_as_string(hide_password=True)})")
                    timed_import(path, args, events)
                else:
                    start = time.perf_counter()
                    dry = run_import(path, args.batch_size, dry_run=True)
                    print(
                        f"dry run into an empty database: {dry.imported:,} valid, {len(dry.errors)} failed "
                        f"in {time.perf_counter() - start:.1f}s"
                    )
                db.session.remove()
                db.engine.dispose()
        finally:
            shutil.rmtree(index_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
