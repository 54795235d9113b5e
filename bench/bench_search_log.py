"""The suggestion endpoint with the search log written at once (``SEARCH_LOG_BUFFER=database``, the behaviour before
the buffer) and noted in the search log buffer (``spool``; ``redis`` too with ``--redis-url``), then what a drain of
those entries costs.

    python bench/bench_search_log.py [--out /tmp/bench-search-log] [--requests 300] [--threads 4]
        [--writer-ms 20] [--redis-url redis://127.0.0.1:6379/15]

The database is a SQLite file built by ``bench/generate.py`` (demo data, no generated tickets) with the seeded
help-centre articles; requests go through the Flask test client in this process: ``GET /portal/tickets/new/
suggestions`` signed in as the demo customer, one client per thread. Each mode is timed alone, then with
``--threads`` threads at once while another connection keeps taking SQLite's write lock for ``--writer-ms`` in every
50 ms (what other writes — ticket changes, the outbox — do under load): a request that writes its log row waits for
that lock, a buffered one does not. Figures are printed, never asserted; the machine's other load distorts them.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_search import SUBJECTS, generate, login, make_app, stats  # noqa: E402


def suggest_once(client, i: int) -> float:
    subject, description = SUBJECTS[i % len(SUBJECTS)]
    t = time.perf_counter()
    response = client.get(
        "/portal/tickets/new/suggestions", query_string={"subject": f"{subject} {i}", "description": description}
    )
    elapsed = (time.perf_counter() - t) * 1000
    assert response.status_code == 200, response.status_code
    return elapsed


def sequential(app, requests: int) -> list[float]:
    client = login(app, "customer@demo.test")
    for i in range(10):
        suggest_once(client, i)
    return [suggest_once(client, i) for i in range(requests)]


def concurrent(app, requests: int, threads: int, db_file: Path, writer_ms: float) -> tuple[list[float], float]:
    clients = [login(app, "customer@demo.test") for _ in range(threads)]
    samples: list[float] = []
    lock, stop = threading.Lock(), threading.Event()

    def writer() -> None:  # another writer holding SQLite's write lock for writer_ms in every 50 ms
        conn = sqlite3.connect(db_file, timeout=30, isolation_level=None)
        while not stop.is_set():
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE kb_categories SET position = position WHERE id = 1")
            time.sleep(writer_ms / 1000)
            conn.execute("COMMIT")
            time.sleep(max(0.0, (50 - writer_ms) / 1000))
        conn.close()

    def work(n: int) -> None:
        mine = [suggest_once(clients[n], n * requests + i) for i in range(requests // threads)]
        with lock:
            samples.extend(mine)

    background = threading.Thread(target=writer, daemon=True)
    if writer_ms > 0:
        background.start()
    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - started
    stop.set()
    if writer_ms > 0:
        background.join()
    return samples, len(samples) / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-search-log"))
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--writer-ms", type=float, default=20.0, help="ms of every 50 another writer holds the lock")
    parser.add_argument("--redis-url", default=None, help="also time the Redis buffer (a scratch database!)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models.kb import Article, SearchLog
    from portal.search.indexing import rebuild_kb
    from portal.services.kb import search_log_buffer
    from portal.services.kb.seed import seed_kb

    db_file = args.out / "search-log.db"
    url = generate(db_file, 0, fresh=False)
    app = make_app(url, args.out / "index")
    app.instance_path = str(args.out / "instance")
    shutil.rmtree(args.out / "instance" / "search_log", ignore_errors=True)
    with app.app_context():
        if not db.session.scalar(select(func.count()).select_from(Article)):
            seed_kb(echo=lambda m: None)
            db.session.commit()
        rebuild_kb()

    modes = ["database", "spool"] + (["redis"] if args.redis_url else [])
    print(f"suggestion request, {args.requests} requests (test client, SQLite WAL)")
    for mode in modes:
        app.config["SEARCH_LOG_BUFFER"] = mode
        app.config["REDIS_URL"] = args.redis_url if mode == "redis" else None
        label = {"database": "old: row written", "spool": "buffer: spool", "redis": "buffer: Redis"}[mode]
        print(f"  {label:18} alone:            {stats(sequential(app, args.requests))}")
        samples, rate = concurrent(app, args.requests, args.threads, db_file, args.writer_ms)
        print(
            f"  {label:18} {args.threads} threads + writer: {stats(samples)}  {rate:6.1f} req/s"
            f"  (writer holds the lock {args.writer_ms:g} of 50 ms)"
        )
        if mode != "database":
            with app.app_context():
                before = db.session.scalar(select(func.count()).select_from(SearchLog))
                t = time.perf_counter()
                drained = search_log_buffer.drain()
                took = time.perf_counter() - t
                after = db.session.scalar(select(func.count()).select_from(SearchLog))
            print(
                f"  {'':18} drain: {drained.searches:,} entries in {took * 1000:.0f} ms"
                f" ({after - before:,} rows added, {drained.searches / max(took, 1e-9):,.0f} entries/s)"
            )
    print("The machine may be shared: rerun on an idle one for figures to compare.")


if __name__ == "__main__":
    main()
