"""The portal's hot pages side by side with a bare 50-row Flask + SQLAlchemy + Jinja table, in one run.

    python bench/bench_compare.py --database-url sqlite:///bench/out/bench10k.db [--workers 2] [--requests 200]

Serves the same database twice with gunicorn and the same number of sync workers: the portal (``wsgi:app``) and
``bench/bare_table.py`` (one SELECT of 50 open tickets with their names, a plain Jinja loop, no layout and no
sign-in). Signs in as an agent (sarah.johnson@support.test), then times the agent queue's first page (and the
counts partial it loads with htmx), agent ticket pages, staff ticket search and KB search for a common word, the bare
table and its ORM variant (``/orm``: the same rows as ORM objects of minimal models), and both servers' ``/healthz``.
Requests are sequential, one connection each, measured on the client.

The pages are timed in interleaved rounds (every page gets ``requests / rounds`` requests per round), so that a
neighbour slowing the machine down for a while slows every page alike and the ratios stay comparable. Prints
p50/p95/mean/min in ms, each page's p50 and p95 as a multiple of the bare table's, and its p50 as a multiple of the
ORM variant's.

Search needs the Whoosh indexes of this database: they are kept next to a SQLite file (``<file>.index/``, or
``--index-dir``), checked with ``flask search check`` and rebuilt with ``flask search rebuild`` when they drift.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pages import (
    AGENT_EMAIL,
    DEMO_PASSWORD,
    ROOT,
    Client,
    database_facts,
    free_port,
    human_size,
    make_display,
    p95,
    start_gunicorn,
    stop_gunicorn,
    wait_healthy,
)

TICKET_HITS_RE = re.compile(r"([\d,]+) tickets? match")
KB_HITS_RE = re.compile(r"(\d+) results? for")


def server_env(url: str, index_dir: Path) -> dict:
    return {
        "DATABASE_URL": url,
        "INDEX_DIR": str(index_dir),
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "PORTAL_ENV": "production",
        "JOBS_EMBEDDED_SCHEDULER": "0",
        "JOBS_RELAY_ON_COMMIT": "0",
    }


def default_index_dir(url: str) -> Path:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return Path(parsed.database + ".index")
    return Path(tempfile.gettempdir()) / f"portal-bench-index-{parsed.host or 'local'}-{parsed.database}"


def ensure_indexes(url: str, index_dir: Path) -> None:
    """``flask search check``; on drift (or no index yet) ``flask search rebuild``, its progress shown."""
    env = dict(os.environ, **server_env(url, index_dir))
    flask = [str(Path(sys.executable).parent / "flask"), "--app", "wsgi", "search"]
    check = subprocess.run([*flask, "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    if check.returncode == 0:
        progress(f"search indexes in {index_dir} match the database")
        return
    progress(f"building the search indexes in {index_dir} (flask search rebuild) ...")
    started = time.perf_counter()
    with subprocess.Popen(
        [*flask, "rebuild"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        last = 0.0
        for line in proc.stdout:
            if time.perf_counter() - last > 2 or "documents in" in line:
                last = time.perf_counter()
                progress("  " + line.strip())
    if proc.returncode:
        raise SystemExit(f"flask search rebuild failed with status {proc.returncode}")
    progress(f"indexes built in {time.perf_counter() - started:.1f}s")


def progress(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def check_page(client: Client, path: str, log_path: Path) -> bytes:
    status, _, body = client.get(path)
    if status != 200:
        raise SystemExit(
            f"{path}: HTTP {status}; server log: {log_path} (a database generated before newer migrations/models? "
            f"re-run bench/generate.py)"
        )
    return body


def hits(pattern: re.Pattern, body: bytes) -> str:
    match = pattern.search(body.decode("utf-8", "replace"))
    return match.group(1) if match else "?"


def time_rounds(pages: list, requests: int, warmup: int, rounds: int) -> dict[str, dict]:
    """Warm every page up, then ``rounds`` rounds in which each page gets its share of the timed requests."""
    results = {label: {"times": [], "errors": 0, "size": 0} for label, _, _, _ in pages}
    for _, _, client, paths in pages:
        for i in range(warmup):
            client.get(paths[i % len(paths)])
    progress(f"warm-up done ({warmup} requests per page); timing {requests} requests per page in {rounds} rounds")
    per_round = [requests // rounds + (1 if r < requests % rounds else 0) for r in range(rounds)]
    started = time.perf_counter()
    for r, count in enumerate(per_round):
        for label, _, client, paths in pages:
            entry = results[label]
            for _ in range(count):
                path = paths[len(entry["times"]) % len(paths)]
                t = time.perf_counter()
                status, _, body = client.get(path)
                entry["times"].append((time.perf_counter() - t) * 1000)
                entry["size"] = len(body)
                entry["errors"] += status != 200
        elapsed = time.perf_counter() - started
        done = sum(per_round[: r + 1])
        eta = elapsed / done * (requests - done)
        medians = " · ".join(
            f"{short} {statistics.median(results[label]['times']):.1f}" for label, short, _, _ in pages if short
        )
        progress(f"[round {r + 1}/{rounds}] {done}/{requests} per page, eta {eta:.0f}s — medians (ms) {medians}")
    return results


BARE, BARE_ORM = "bare 50-row table", "bare table, ORM objects"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), help="database to serve")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per page first (default 20)")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers for each server (default 2)")
    parser.add_argument("--tickets-sample", type=int, default=20, help="ticket pages to cycle through (default 20)")
    parser.add_argument("--query", default="export", help='staff ticket search words (default "export")')
    parser.add_argument("--kb-query", default="export", help='KB search words (default "export")')
    parser.add_argument("--index-dir", type=Path, help="search indexes (default: <sqlite file>.index)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="extra environment for the portal's gunicorn"
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url (or DATABASE_URL) is required")
    if not 1 <= args.rounds <= args.requests:
        parser.error("--rounds must be between 1 and --requests")
    url = args.database_url
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    extra_env = dict(item.split("=", 1) for item in args.env)

    try:
        facts = database_facts(url, args.tickets_sample, random.Random(args.seed))
    except Exception as exc:
        raise SystemExit(
            f"cannot read the benchmark database ({exc.__class__.__name__}: {str(exc).splitlines()[0]}); "
            f"run bench/generate.py first"
        ) from exc
    if not facts["ticket_ids"]:
        raise SystemExit("no ticket with a conversation found; run bench/generate.py first")
    index_dir = args.index_dir or default_index_dir(url)
    ensure_indexes(url, index_dir)

    portal_port, bare_port = free_port(), free_port()
    logs = {
        "portal": Path(tempfile.gettempdir()) / f"portal-bench-gunicorn-{portal_port}.log",
        "bare": Path(tempfile.gettempdir()) / f"portal-bench-bare-{bare_port}.log",
    }
    progress(f"starting gunicorn -w {args.workers}: portal on :{portal_port}, bare table on :{bare_port}")
    procs = []
    try:
        portal_env = dict(server_env(url, index_dir), RATELIMIT_ENABLED="0", PYTHONDONTWRITEBYTECODE="1")
        procs.append(start_gunicorn(url, portal_port, args.workers, logs["portal"], {**portal_env, **extra_env}))
        procs.append(
            start_gunicorn(
                url, bare_port, args.workers, logs["bare"], {}, app="bare_table:app", args=("--pythonpath", "bench")
            )
        )
        agent, portal_probe = Client("127.0.0.1", portal_port), Client("127.0.0.1", portal_port)
        bare = Client("127.0.0.1", bare_port)
        wait_healthy(portal_probe, procs[0], logs["portal"])
        wait_healthy(bare, procs[1], logs["bare"])
        agent.login(AGENT_EMAIL, DEMO_PASSWORD)

        tickets = [f"/agent/tickets/ESG-{i:06d}" for i in facts["ticket_ids"]]
        staff_search = f"/agent/search?q={quote(args.query)}"
        kb_search = f"/kb/search?q={quote(args.kb_query)}"
        check_page(agent, "/agent/queue", logs["portal"])
        for path in tickets:
            check_page(agent, path, logs["portal"])
        ticket_hits = hits(TICKET_HITS_RE, check_page(agent, staff_search, logs["portal"]))
        kb_hits = hits(KB_HITS_RE, check_page(agent, kb_search, logs["portal"]))
        rows = check_page(bare, "/", logs["bare"]).count(b"<tr>") - 1
        check_page(bare, "/orm", logs["bare"])
        progress(
            f"pages answer: staff search {args.query!r} → {ticket_hits} tickets, KB search {args.kb_query!r} → "
            f"{kb_hits} results, bare table → {rows} rows"
        )
        pages = [  # (label, short label for the progress line or None, client, paths cycled through)
            ("agent queue, first page", "queue", agent, ["/agent/queue"]),
            ("agent queue counts (htmx)", None, agent, ["/agent/queue/counts?view=open"]),
            (f"agent ticket page ({len(tickets)} tickets)", "ticket", agent, tickets),
            (f'staff ticket search "{args.query}"', "staff search", agent, [staff_search]),
            (f'KB search "{args.kb_query}"', "KB search", agent, [kb_search]),
            (BARE, "bare", bare, ["/"]),
            (BARE_ORM, "bare ORM", bare, ["/orm"]),
            ("portal /healthz (SELECT 1)", None, portal_probe, ["/healthz"]),
            ("bare /healthz (SELECT 1)", None, bare, ["/healthz"]),
        ]
        results = time_rounds(pages, args.requests, args.warmup, args.rounds)
    finally:
        for proc in procs:
            stop_gunicorn(proc)

    bare_times = results[BARE]["times"]
    bare_p50, bare_p95 = statistics.median(bare_times), p95(bare_times)
    orm_p50 = statistics.median(results[BARE_ORM]["times"])
    print()
    print(f"database : {make_display(url)} ({facts['dialect']}), size {human_size(facts['size'])}")
    print(f"data     : {facts['tickets']:,} tickets ({facts['open']:,} open), {facts['events']:,} events")
    print(
        f"servers  : portal (wsgi:app) and bare table (bench/bare_table.py), each gunicorn -w {args.workers} (sync); "
        f"{args.requests} sequential requests per page in {args.rounds} interleaved rounds after {args.warmup} warm-up"
    )
    print(f'searches : staff "{args.query}" → {ticket_hits} tickets, KB "{args.kb_query}" → {kb_hits} results')
    print()
    header = (
        f"{'page':<36} {'p50':>7} {'p95':>7} {'mean':>7} {'min':>7} {'×bare p50':>10} {'×bare p95':>10} "
        f"{'×ORM p50':>9} {'bytes':>7} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    for label, _, _, _ in pages:
        entry = results[label]
        times = entry["times"]
        median = statistics.median(times)
        print(
            f"{label:<36} {median:>7.2f} {p95(times):>7.2f} {statistics.fmean(times):>7.2f} {min(times):>7.2f} "
            f"{median / bare_p50:>10.2f} {p95(times) / bare_p95:>10.2f} {median / orm_p50:>9.2f} "
            f"{entry['size']:>7} {entry['errors']:>6}"
        )
    print(
        "(ms, measured on the client: connect + request + full response; ×bare: this page ÷ the bare table, "
        "×ORM p50: ÷ the ORM variant's p50)"
    )
    return 1 if any(entry["errors"] for entry in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
