"""The same figures at 10k, 100k and 1M tickets, each beside its 10k value as a ratio.

    python bench/scale.py --sizes 10000,100000,1000000 [--database sqlite|postgresql] [--reuse] [--requests 100]

For each size it generates a database with ``bench/generate.py`` (``--now`` fixed, a 1-hour sweep backlog left;
``--reuse`` keeps a database already generated at that size), then measures, in ``--rounds`` (3) rounds that take
the sizes in turn (each figure is the median of its rounds, so a slow spell of a shared machine does not land on
one size only):

- the pages of ``bench/bench_pages.py`` over HTTP (gunicorn, 2 workers): the agent queue, the queue counts partial,
  agent ticket pages, the customer's list;
- in process: the queue counts (``queries.queue_counts``), a routing decision (``routing.decide`` for a new data
  ticket of L1 at the generator's ``now``) and the SLA sweep over the 1-hour backlog (``bench/bench_sla.py
  --backlog-db``, on a copy of a SQLite file; rolled back on PostgreSQL). The sweep runs on a second database of
  the same size whose history is ``--sweep-days`` (3) days long: over three years' history only a few dozen
  tickets are open near their thresholds, over three days about 6,000 cross one in the last hour at 1M, the
  backlog the sweep's goal is set for. ``--sweep-days 0`` sweeps the first database instead;
- with ``--search`` (SQLite): the full ticket index rebuild and staff ticket search for common and rare words
  (``bench/bench_search.py --rebuild``), printed after the table.

SQLite files live in ``--dir`` (/tmp); PostgreSQL databases are ``scale_<n>`` (``scale_sweep_<n>``) on ``--pg``
(created when missing). The table is followed by the rows each page showed at each size where they differ: a view
that matches fewer tickets than a page holds (the unassigned view at 10k) renders less, whatever the table's size.
1M on SQLite takes about 2 minutes to generate (each of the two databases); on PostgreSQL about 5. Progress goes
to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
NOW = "2026-12-01T12:00:00+00:00"


def log(message: str) -> None:
    sys.stderr.write(f"[scale] {message}\n")
    sys.stderr.flush()


def database_url(args, n: int, kind: str = "") -> str:
    if args.database == "sqlite":
        return f"sqlite:///{Path(args.dir) / f'scale-{kind}{n}.db'}"
    return f"{args.pg.rstrip('/')}/scale_{kind.replace('-', '_')}{n}"


def exists(args, url: str) -> bool:
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///") :]).exists()
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.scalar(text("SELECT COUNT(*) FROM information_schema.tables WHERE table_name='tickets'")))
    except Exception:
        return False
    finally:
        engine.dispose()


def ensure_pg_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}):
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def run(cmd: list[str], **kw) -> str:
    """Run a command, its progress (stderr) shown as it goes; returns its stdout."""
    result = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, **kw)
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(cmd)}\n{result.stdout[-2000:]}")
    return result.stdout


def generate(args, n: int, url: str, days: int | None = None) -> None:
    if args.reuse and exists(args, url):
        log(f"{n:,}: reusing {url}")
        return
    if url.startswith("postgresql"):
        ensure_pg_database(url)
    log(f"{n:,}: generating {url}")
    cmd = [PYTHON, "bench/generate.py", "--tickets", str(n), "--database-url", url, "--now", NOW]
    cmd += ["--sweep-backlog-minutes", "60"] + (["--days", str(days)] if days else [])
    if url.startswith("postgresql"):
        cmd.append("--fresh")
    run(cmd)


def in_process(url: str, repeat: int) -> dict[str, float]:
    """Queue counts and a routing decision, timed in this process (median ms)."""
    os.environ.setdefault("PORTAL_ENV", "development")
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import select

    from portal import create_app
    from portal.extensions import db
    from portal.models import Category, Ticket, Tier, User
    from portal.services import queries, routing

    now = datetime.fromisoformat(NOW)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False})
    figures = {}
    with app.app_context():
        agent = db.session.scalar(select(User).where(User.email == "sarah.johnson@support.test"))
        manager = db.session.scalar(select(User).where(User.email == "robert.taylor@support.test"))
        category = db.session.scalar(select(Category).where(Category.slug == "data"))
        ticket = Ticket(subject="x", description="x", tier=Tier.l1, category=category)
        for label, fn in (
            ("queue counts, agent (in process)", lambda: queries.queue_counts(agent)),
            ("queue counts, manager with at-risk (in process)", lambda: queries.queue_counts(manager)),
            ("routing decision (in process)", lambda: routing.decide(ticket, now)),
        ):
            for _ in range(max(3, repeat // 10)):
                fn()
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                fn()
                times.append((time.perf_counter() - start) * 1000)
            figures[label] = statistics.median(times)
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()
    return figures


def sweep(url: str) -> float:
    source = url[len("sqlite:///") :] if url.startswith("sqlite:///") else url
    out = run([PYTHON, "bench/bench_sla.py", "--backlog-db", source, "--now", NOW])
    # the figure with the commit where there is one (a SQLite copy), else the rolled-back sweep (PostgreSQL)
    match = re.search(r"with the commit (\d+) ms", out) or re.search(
        r"sweep, 1-hour backlog \(batched\): (\d+) ms", out
    )
    due = re.search(r"(\d+) due at", out)
    log(out.strip())
    return float(match.group(1)) if match else float("nan"), int(due.group(1)) if due else 0


SEARCH_REPORTS: dict[int, str] = {}
ROWS: dict[str, dict[int, int]] = {}  # page label -> size -> table rows shown


def search(url: str, args, n: int) -> None:
    """The rebuild and the search figures of ``bench/bench_search.py`` (SQLite files), printed after the table."""
    if not url.startswith("sqlite:///"):
        log("search: bench/bench_search.py reads SQLite files; skipped")
        return
    cmd = [PYTHON, "bench/bench_search.py", "--skip-kb", "--database", url[len("sqlite:///") :], "--rebuild"]
    SEARCH_REPORTS[n] = run(cmd + ["--no-check", "--requests", str(args.requests)])


def pages_and_counts(args, n: int, round_no: int) -> dict[str, float]:
    """One round at one size: the HTTP pages and the in-process figures (medians in ms)."""
    url = database_url(args, n)
    figures: dict[str, float] = {}
    pages_json = Path(args.dir) / f"scale-pages-{args.database}-{n}.json"
    log(f"{n:,}: pages over HTTP (round {round_no}/{args.rounds})")
    run(
        [PYTHON, "bench/bench_pages.py", "--database-url", url, "--workers", "2", "--requests", str(args.requests)]
        + ["--warmup", "10", "--json", str(pages_json)]
    )
    data = json.loads(pages_json.read_text())
    for label, values in data["pages"].items():
        if not label.startswith("healthz"):
            figures[f"{label} (HTTP)"] = values["median"]
            ROWS.setdefault(f"{label} (HTTP)", {})[n] = values.get("rows", 0)
    log(f"{n:,}: queue counts and routing in process (round {round_no}/{args.rounds})")
    figures.update(in_process(url, args.requests))
    figures["_open"] = data["facts"]["open"]
    return figures


def measure(args, sizes: list[int]) -> dict[int, dict[str, float]]:
    """Every size generated first; then ``--rounds`` rounds of the pages and counts, the sizes taken in turn in
    each round (a neighbour that slows the machine for a while slows every size alike; each figure is the median of
    its rounds); then the sweep and the search once per size."""
    for n in sizes:
        generate(args, n, database_url(args, n))
        if args.sweep_days:
            generate(args, n, database_url(args, n, "sweep-"), days=args.sweep_days)
    rounds: dict[int, list[dict[str, float]]] = {n: [] for n in sizes}
    for round_no in range(1, args.rounds + 1):
        for n in sizes:
            rounds[n].append(pages_and_counts(args, n, round_no))
    results = {}
    for n in sizes:
        figures = {label: statistics.median(r[label] for r in rounds[n]) for label in rounds[n][0]}
        log(f"{n:,}: SLA sweep over the 1-hour backlog")
        ms, due = sweep(database_url(args, n, "sweep-") if args.sweep_days else database_url(args, n))
        figures["sweep, 1-hour backlog (in process)"] = ms
        figures["_due"] = due
        if args.search:
            log(f"{n:,}: search rebuild and queries")
            search(database_url(args, n), args, n)
        results[n] = figures
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--dir", default="/tmp")
    parser.add_argument("--reuse", action="store_true", help="keep a database already generated at a size")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per figure (default 100)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of pages and counts over the sizes (default 3)")
    parser.add_argument("--search", action="store_true", help="also rebuild the search index and time search")
    parser.add_argument(
        "--sweep-days", type=int, default=3, help="history of the sweep's database in days (0: the first database)"
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.perf_counter()
    results = measure(args, sizes)
    log(f"done in {time.perf_counter() - started:.0f} s")
    base = sizes[0]
    labels = [k for k in results[base] if not k.startswith("_")]
    width = max(len(label) for label in labels) + 2
    print(
        f"\n{args.database}: medians in ms (the median of {args.rounds} rounds); each size's figure and its ratio to"
        f" the {base:,} figure"
    )
    print("open tickets: " + ", ".join(f"{n:,} → {results[n]['_open']:,}" for n in sizes))
    print("tickets due at the backlog sweep: " + ", ".join(f"{n:,} → {results[n]['_due']:,}" for n in sizes))
    header = f"{'figure':<{width}}" + "".join(f"{f'{n:,}':>12}{'ratio':>8}" for n in sizes)
    print(header)
    print("-" * len(header))
    for label in labels:
        row = f"{label:<{width}}"
        for n in sizes:
            value = results[n].get(label, float("nan"))
            ratio = value / results[base][label] if results[base].get(label) else float("nan")
            row += f"{value:>12.2f}{ratio:>7.2f}x"
        print(row)
    for label, by_size in ROWS.items():
        if len(set(by_size.values())) > 1:
            shown = ", ".join(f"{n:,} → {by_size[n]}" for n in sizes if n in by_size)
            print(f"rows shown, {label}: {shown}")
    for n, report in SEARCH_REPORTS.items():
        print(f"\nsearch at {n:,} tickets (bench/bench_search.py):\n{report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
