"""Search benchmarks: suggestions at 2,000 articles, the KB category page with 333 articles, staff ticket search at
10k and 100k tickets, and how long a change takes to become searchable.

    python bench/bench_search.py [--out bench/out] [--articles 2000] [--tickets 10000 100000] [--requests 200]
    python bench/bench_search.py --skip-kb --database /tmp/b1m.db [--index-dir /tmp/b1m-index] [--rebuild]
        [--no-check] [--incremental [--rate 20] [--seconds 60]]

Databases are SQLite files built by ``bench/generate.py`` (reused when present unless ``--fresh``; ``--database``
names one built beforehand, e.g. with 1M tickets); indexes live next to them (``--index-dir``). ``--rebuild``
rebuilds the ticket index first (``INDEX_REBUILD_PROCS`` processes, progress every 10 s, peak memory of this
process); ``--no-check`` skips the content check (minutes at 1M). ``--incremental`` adds ``--rate`` ticket changes
a second (internal notes) for ``--seconds`` while an index-writer thread consumes the ``index.ticket`` outbox rows
as the index worker does, and reports how long each change took to become searchable.

Requests go through the Flask test client in this process (app + database + Whoosh + template rendering,
no network or WSGI server), signed in as the demo customer / an agent. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEMO_PASSWORD = "demo-pass-2026"
CUSTOMER = "customer@demo.test"
AGENT = "sarah.johnson@support.test"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SUBJECTS = [
    ("Bulk import fails with validation errors", "The CSV upload says unit kWh not recognised in row 14."),
    ("How do I generate a GRI report", "We need the GRI 305 emissions disclosure for the annual report."),
    ("SSO login broken", "Users get SSO_SAML_ASSERTION_INVALID after we rotated the certificate."),
    ("Dashboard is very slow", "Selecting five years of data takes more than thirty seconds in Chrome."),
    ("SAP connector stopped syncing", "The S/4HANA sync stopped since the last release."),
    ("Export to Excel", "How can I export the Scope 3 supplier data to xlsx?"),
    ("API rate limit", "We get HTTP 429 from the REST API when importing meter readings."),
    ("Add a new facility", "Where do I add a facility and set its reporting boundary?"),
    ("TCFD scenario charts missing", "The PDF export has no scenario analysis charts."),
    ("Permissions for auditors", "Our external auditor needs read-only access to the audit trail."),
]
# Words that occur in a large share of the documents: the worst case of a ranked search (long posting lists).
COMMON_WORDS = ["export", "report", "data"]
TICKET_QUERIES = [
    "scope 2 electricity",
    "SAP connector",
    "validator",
    "kWh",
    "timeout",
    "emission factor",
    "boundary mapping",
    "audit trail",
    "permissions",
    "duplicate rows",
    "quarterly close",
    "screenshot export",
    "engineering ticket",
    "staging",
]


def stats(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * len(ordered))) - 1)]
    return (
        f"median {statistics.median(ordered):7.2f} ms  p95 {p95:7.2f} ms  mean {statistics.fmean(ordered):7.2f} ms"
        f"  min {ordered[0]:6.2f} ms  (n={len(ordered)})"
    )


def timed(fn, n: int, warmup: int = 10) -> list[float]:
    for i in range(warmup):
        fn(i)
    samples = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t) * 1000)
    return samples


def generate(url_path: Path, tickets: int, fresh: bool) -> str:
    url = f"sqlite:///{url_path}"
    if url_path.exists() and not fresh:
        print(f"  reusing {url_path}")
        return url
    print(f"  generating {tickets:,} tickets into {url_path} ...", flush=True)
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "generate.py"), "--tickets", str(tickets), "--database-url", url],
        check=True,
        cwd=ROOT,
    )
    return url


def make_app(url: str, index_dir: Path):
    os.environ.setdefault("PORTAL_ENV", "development")
    from portal import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "ENV_NAME": "development",
            "SECRET_KEY": "bench-search",
            "RATELIMIT_ENABLED": False,
            "INDEX_DIR": str(index_dir),
            "JOBS_RELAY_ON_COMMIT": False,
            "JOBS_EMBEDDED_SCHEDULER": False,
            "WTF_CSRF_ENABLED": True,
        }
    )


def login(app, email: str):
    client = app.test_client()
    page = client.get("/login")
    token = CSRF_RE.search(page.text).group(1)
    response = client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "csrf_token": token})
    assert response.status_code == 302, f"login of {email} failed"
    return client


def dir_size(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


# --------------------------------------------------------------------------- KB


def bench_kb(out: Path, articles: int, requests: int, fresh: bool) -> None:
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import User, utcnow
    from portal.models.kb import Article, ArticleStatus, KbCategory
    from portal.search.indexing import rebuild_kb
    from portal.services.kb.seed import seed_kb

    print(f"\n== KB: {articles:,} articles ==")
    db_path = out / "search-kb.db"
    if fresh and db_path.exists():
        db_path.unlink()
    url = generate(db_path, 0, fresh)
    index_dir = out / "search-kb-index"
    app = make_app(url, index_dir)
    with app.app_context():
        if not db.session.scalar(select(func.count()).select_from(Article)):
            seed_kb(echo=lambda m: None)
            db.session.commit()
        have = db.session.scalar(select(func.count()).select_from(Article))
        if have < articles:
            _add_articles(db, Article, ArticleStatus, KbCategory, User, utcnow, articles - have)
        counts = dict(
            db.session.execute(
                select(KbCategory.slug, func.count(Article.id))
                .join(Article, Article.category_id == KbCategory.id)
                .where(Article.status == ArticleStatus.published)
                .group_by(KbCategory.slug)
            ).all()
        )
        print(f"  published articles per category: {counts}")
        t = time.perf_counter()
        n = rebuild_kb()
        print(f"  rebuild: {n:,} KB documents in {time.perf_counter() - t:.1f}s, index {dir_size(index_dir):.1f} MB")

    customer = login(app, CUSTOMER)

    def suggest(i: int) -> None:
        subject, description = SUBJECTS[i % len(SUBJECTS)]
        response = customer.get(
            "/portal/tickets/new/suggestions", query_string={"subject": subject, "description": description}
        )
        assert response.status_code == 200

    print(f"  suggestion request (subject + description, customer):  {stats(timed(suggest, requests))}")

    def suggest_subject_only(i: int) -> None:
        response = customer.get("/portal/tickets/new/suggestions", query_string={"subject": SUBJECTS[i % 10][0]})
        assert response.status_code == 200

    print(f"  suggestion request (subject only):                     {stats(timed(suggest_subject_only, requests))}")
    anonymous = app.test_client()

    def api_suggest(i: int) -> None:
        assert anonymous.get("/api/v1/kb/suggest", query_string={"text": SUBJECTS[i % 10][0]}).status_code == 200

    print(f"  GET /api/v1/kb/suggest (anonymous):                    {stats(timed(api_suggest, requests))}")

    def kb_search(i: int) -> None:
        assert anonymous.get("/kb/search", query_string={"q": SUBJECTS[i % 10][0]}).status_code == 200

    print(f"  GET /kb/search (anonymous):                            {stats(timed(kb_search, requests))}")
    with app.app_context():
        from portal.search.kb import search_kb

        for word in COMMON_WORDS:
            total = search_kb(word, staff=True).total
            samples = timed(lambda i, w=word: search_kb(w, staff=True), requests)
            label = f'staff search_kb("{word}") ({total:,} matches):'
            print(f"  {label:<55}{stats(samples)}")

    def category_page(i: int) -> None:
        assert anonymous.get("/kb/c/reporting").status_code == 200

    print(
        f"  GET /kb/c/reporting ({counts.get('reporting', 0)} articles, page 1):             "
        f"{stats(timed(category_page, requests))}"
    )

    def category_page_last(i: int) -> None:
        assert anonymous.get("/kb/c/reporting", query_string={"page": 17}).status_code == 200

    print(f"  GET /kb/c/reporting?page=17:                           {stats(timed(category_page_last, requests))}")
    with app.app_context():
        _change_latency_kb(app)


def _add_articles(db, Article, ArticleStatus, KbCategory, User, utcnow, missing: int) -> None:
    """Copies of the demo articles with varied titles; 333 published in Reporting (the category page figure)."""
    from sqlalchemy import func, select

    rng = random.Random(7)
    demo = db.session.scalars(select(Article).where(Article.status == ArticleStatus.published)).all()
    categories = {c.slug: c for c in db.session.scalars(select(KbCategory))}
    reporting = db.session.scalar(
        select(func.count()).select_from(Article).where(Article.category_id == categories["reporting"].id)
    )
    author = db.session.scalar(select(User).where(User.role == "admin"))
    regions = ["EMEA", "APAC", "AMER", "Nordics", "DACH", "Iberia", "Benelux", "UK", "France", "Italy", "Japan"]
    now = utcnow()
    rows = []
    start = db.session.scalar(select(func.max(Article.id))) or 0
    for i in range(missing):
        source = demo[i % len(demo)]
        slug_cat = "reporting" if reporting < 333 else rng.choice([s for s in categories if s != "reporting"])
        reporting += slug_cat == "reporting"
        n = start + i + 1
        rows.append(
            dict(
                slug=f"{source.slug}-{n}",
                title=f"{source.title} — {rng.choice(regions)} edition {n}",
                summary=source.summary,
                body_markdown=source.body_markdown,
                category_id=categories[slug_cat].id,
                status="published",
                internal_only=source.internal_only,
                tags=source.tags,
                author_id=author.id if author else None,
                created_at=now,
                updated_at=now,
                published_at=now,
                version=1,
                view_count=rng.randint(0, 500),
            )
        )
    db.session.execute(Article.__table__.insert(), rows)
    db.session.commit()
    print(f"  added {missing:,} generated articles")


def _change_latency_kb(app) -> None:
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import OutboxMessage, User
    from portal.models.kb import Article
    from portal.search.kb import search_kb
    from portal.services.kb.articles import ArticleInput, update_article
    from workers import runner

    admin = db.session.scalar(select(User).where(User.role == "admin"))
    samples, jobs = [], []
    for k in range(10):
        article = db.session.scalar(
            select(Article).where(Article.status == "published").order_by(Article.id).offset(k * 37)
        )
        word = f"zyxqua{k}{random.randint(1000, 9999)}"
        t0 = time.perf_counter()
        update_article(
            admin,
            article,
            ArticleInput(
                title=article.title,
                body_markdown=article.body_markdown + f"\n\nNew note: {word}.",
                category=article.category.slug,
                summary=article.summary,
                tags=article.tags,
                internal_only=article.internal_only,
            ),
            expected_version=article.version,
        )
        db.session.commit()
        message_id = db.session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.kind == "index.article").order_by(OutboxMessage.id.desc())
        )
        t1 = time.perf_counter()
        assert runner.process(message_id) == "done"
        t2 = time.perf_counter()
        assert search_kb(word, staff=True).total == 1
        samples.append((time.perf_counter() - t0) * 1000)
        jobs.append((t2 - t1) * 1000)
    print(f"  article edit → searchable (save + commit + index job + search): {stats(samples)}")
    print(f"    of which the index job:                               {stats(jobs)}")


# --------------------------------------------------------------------------- tickets


def bench_tickets(out: Path, tickets: int, requests: int, fresh: bool, args=None) -> None:
    from portal.extensions import db
    from portal.search.indexing import rebuild_tickets

    database = getattr(args, "database", None)
    print(f"\n== Tickets: {database or f'{tickets:,}'} ==")
    if database:
        url, index_dir = f"sqlite:///{database}", args.index_dir or database.with_name(database.stem + "-index")
    else:
        url = generate(out / f"search-t{tickets}.db", tickets, fresh)
        index_dir = out / f"search-t{tickets}-index"
    app = make_app(url, index_dir)
    with app.app_context():
        from portal.search.indexing import check_tickets

        if getattr(args, "no_check", False):
            report = None
        else:
            t = time.perf_counter()
            report = check_tickets()
            print(f"  search check (content digests of {report.rows:,} tickets): {time.perf_counter() - t:.1f}s")
        if fresh or getattr(args, "rebuild", False) or (report is not None and not report.ok):
            t = time.perf_counter()
            last = [0.0]

            def echo(message: str) -> None:
                if time.perf_counter() - last[0] > 10:
                    last[0] = time.perf_counter()
                    print("  " + message.strip(), flush=True)

            n = rebuild_tickets(echo=echo)
            elapsed = time.perf_counter() - t
            print(
                f"  rebuild: {n:,} tickets in {elapsed:.1f}s ({n / elapsed:,.0f}/s), index {dir_size(index_dir):.1f} MB"
                f", peak memory of this process {_peak_mb():.0f} MB (+ {app.config.get('INDEX_REBUILD_PROCS', 2)}"
                f" writer processes of at most INDEX_REBUILD_MB={app.config.get('INDEX_REBUILD_MB', 128)} postings)"
            )
        elif report is not None:
            print(f"  index up to date: {report.documents:,} documents, {dir_size(index_dir):.1f} MB")
        from sqlalchemy import select

        from portal.models import User
        from portal.search.tickets import TicketSearchFilters, search_tickets

        agent = db.session.scalar(select(User).where(User.email == AGENT))
        customer = db.session.scalar(select(User).where(User.email == CUSTOMER))

        def service(i: int) -> None:
            search_tickets(agent, TICKET_QUERIES[i % len(TICKET_QUERIES)])

        print(f"  staff search_tickets() (service, 20 hits + snippets): {stats(timed(service, requests))}")

        def service_filtered(i: int) -> None:
            search_tickets(
                agent, TICKET_QUERIES[i % len(TICKET_QUERIES)], TicketSearchFilters(status="open_any", priority="high")
            )

        print(f"  staff search, open + high priority filter:            {stats(timed(service_filtered, requests))}")

        def service_sorted(i: int) -> None:
            search_tickets(agent, TICKET_QUERIES[i % len(TICKET_QUERIES)], TicketSearchFilters(sort="updated"))

        print(f"  staff search, sorted by last update:                   {stats(timed(service_sorted, requests))}")

        def customer_service(i: int) -> None:
            search_tickets(customer, TICKET_QUERIES[i % len(TICKET_QUERIES)])

        print(f"  customer search (own organization, public text):       {stats(timed(customer_service, requests))}")
        total = search_tickets(agent, "timeout").total
        print(f'  ("timeout" matches {total:,} tickets)')
        common = []
        for word in COMMON_WORDS:
            found = search_tickets(agent, word)
            samples = timed(lambda i, w=word: search_tickets(agent, w), requests)
            common += samples
            label = f'staff search_tickets("{word}") ({"> " if found.more_than else ""}{found.total:,} matches):'
            print(f"  {label:<55}{stats(samples)}")
        print(f"  staff search, common words together:                   {stats(common)}")
        rare = _rare_words()
        totals = [search_tickets(agent, w).total for w in rare]
        samples = timed(lambda i: search_tickets(agent, rare[i % len(rare)]), requests)
        print(f"  staff search, rare words {rare[:4]}... ({min(totals)}-{max(totals)} matches):")
        print(f"  {'':<55}{stats(samples)}")
        samples = timed(lambda i: search_tickets(agent, COMMON_WORDS[i % 3], page=5), requests)
        print(f"  staff search, common word, page 5:                     {stats(samples)}")
        samples = timed(lambda i: search_tickets(customer, COMMON_WORDS[i % 3]), requests)
        print(f"  customer search, common words (own organization):      {stats(samples)}")
    staff = login(app, AGENT)

    def http(i: int) -> None:
        assert (
            staff.get("/agent/search", query_string={"q": TICKET_QUERIES[i % len(TICKET_QUERIES)]}).status_code == 200
        )

    print(f"  GET /agent/search (full page):                         {stats(timed(http, requests))}")
    with app.app_context():
        _change_latency_tickets()
    if getattr(args, "incremental", False):
        _incremental(app, args.rate, args.seconds)


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rare_words(count: int = 10, most: int = 20) -> list[str]:
    """Words of the ticket index that at most ``most`` tickets hold (a seeded sample of its lexicon)."""
    from portal.search.schema import TICKET_INDEX
    from portal.search.store import searcher

    with searcher(TICKET_INDEX) as s:
        reader = s.reader()
        words = [
            text.decode() if isinstance(text, bytes) else text
            for text, info in reader.iter_field("customer_text")
            if 2 <= info.doc_frequency() <= most
        ]
    words = [w for w in words if w.isalpha() and len(w) > 3]
    return random.Random(3).sample(words, min(count, len(words)))


def _incremental(app, rate: float, seconds: float) -> None:
    """``rate`` internal notes a second for ``seconds`` (this thread) while an index-writer thread runs the due
    ``index.ticket`` outbox rows in id order, each through ``workers.runner.process`` as the one ``index`` worker's
    RQ jobs do (a job that finds its row already done by an earlier job's batch is skipped). A change's latency is
    from its commit until its outbox row is marked done (``processed_at``, after the index commit that holds it:
    its words are searchable from then on, searchers open the new generation at their next search)."""
    import threading
    from datetime import datetime

    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import OutboxMessage, OutboxStatus, Ticket, User, utcnow
    from portal.search.schema import TICKET_INDEX
    from portal.search.store import open_index
    from portal.search.tickets import search_tickets
    from portal.services import tickets as ticket_service
    from workers import runner

    print(f"\n  incremental: {rate:g} ticket changes/s for {seconds:g}s, one index-writer thread")
    committed: dict[int, datetime] = {}
    jobs: dict[str, list[float]] = {}
    stop = threading.Event()
    index_rows = OutboxMessage.kind == "index.ticket"

    def writer(floor: int) -> None:
        with app.app_context():
            while True:
                ids = list(
                    db.session.scalars(
                        select(OutboxMessage.id)
                        .where(
                            index_rows,
                            OutboxMessage.id > floor,
                            OutboxMessage.status.in_(runner.RUNNABLE),
                            OutboxMessage.available_at <= utcnow(),
                        )
                        .order_by(OutboxMessage.id)
                    )
                )
                db.session.commit()
                if not ids:
                    if stop.is_set():
                        return
                    time.sleep(0.01)
                    continue
                for message_id in ids:
                    t = time.perf_counter()
                    outcome = runner.process(message_id)
                    jobs.setdefault(outcome, []).append((time.perf_counter() - t) * 1000)

    with app.app_context():
        agent = db.session.scalar(select(User).where(User.email == AGENT))
        tickets = list(db.session.scalars(select(Ticket.id).order_by(Ticket.id.desc()).limit(int(rate * seconds))))
        # rows of earlier runs must not be waited for
        db.session.execute(
            OutboxMessage.__table__.update()
            .where(index_rows, OutboxMessage.status.in_(runner.RUNNABLE))
            .values(status=OutboxStatus.done)
        )
        floor = db.session.scalar(select(func.max(OutboxMessage.id))) or 0
        db.session.commit()
        generation = open_index(TICKET_INDEX).latest_generation()
        thread = threading.Thread(target=writer, args=(floor,), daemon=True)
        thread.start()
        words = {}
        start = time.perf_counter()
        for n, ticket_id in enumerate(tickets):
            due = start + n / rate
            if (pause := due - time.perf_counter()) > 0:
                time.sleep(pause)
            ticket = db.session.get(Ticket, ticket_id)
            words[ticket_id] = word = f"zqinc{n}x{random.randint(1000, 9999)}"
            ticket_service.reply_to_ticket(agent, ticket, f"Checked the meter import: {word}", internal=True)
            db.session.commit()
            committed[ticket_id] = utcnow()
        produced = time.perf_counter() - start
        stop.set()
        thread.join(timeout=600)
        commits = open_index(TICKET_INDEX).latest_generation() - generation
        searchable: dict[int, datetime] = {}
        for payload, processed_at in db.session.execute(
            select(OutboxMessage.payload, OutboxMessage.processed_at).where(index_rows, OutboxMessage.id > floor)
        ):
            ticket_id = int(payload["ticket_id"])
            if processed_at is not None and (ticket_id not in searchable or processed_at > searchable[ticket_id]):
                searchable[ticket_id] = processed_at
        latencies = [(searchable[t] - committed[t]).total_seconds() * 1000 for t in committed if t in searchable]
        ran, skipped = jobs.get("done", []), jobs.get("skipped", [])
        others = {k: len(v) for k, v in jobs.items() if k not in ("done", "skipped")} or "none"
        print(f"    {len(committed)} changes in {produced:.1f}s ({len(committed) / produced:.1f}/s)")
        print(f"    change → searchable: {stats(latencies)}")
        if len(latencies) < len(committed):
            print(f"    NOT indexed: {len(committed) - len(latencies)} changes")
        print(f"    index jobs that ran: {stats(ran)}" if ran else "    no index job ran")
        print(
            f"    {commits} index commits ({len(committed) / max(commits, 1):.1f} changes each); {len(skipped)} jobs"
            f" skipped (their row done by an earlier batch), {sum(skipped):.0f} ms in all;"
            f" other outcomes: {others}"
        )
        sample = random.Random(5).sample(sorted(words), min(20, len(words)))
        found = sum(search_tickets(agent, words[t]).total == 1 for t in sample)
        print(f"    {found}/{len(sample)} sampled changes found by a staff search afterwards")


def _change_latency_tickets() -> None:
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import OutboxMessage, Ticket, User
    from portal.search.tickets import search_tickets
    from portal.services import tickets as ticket_service
    from workers import runner

    agent = db.session.scalar(select(User).where(User.email == AGENT))
    samples, jobs = [], []
    for k in range(10):
        ticket = db.session.scalar(select(Ticket).where(Ticket.status == "open").order_by(Ticket.id.desc()).offset(k))
        word = f"qwzplk{k}{random.randint(1000, 9999)}"
        t0 = time.perf_counter()
        ticket_service.reply_to_ticket(agent, ticket, f"Internal check {word}", internal=True)
        db.session.commit()
        message_id = db.session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.kind == "index.ticket").order_by(OutboxMessage.id.desc())
        )
        t1 = time.perf_counter()
        assert runner.process(message_id) == "done"
        t2 = time.perf_counter()
        assert search_tickets(agent, word).total == 1
        samples.append((time.perf_counter() - t0) * 1000)
        jobs.append((t2 - t1) * 1000)
    print(f"  internal note → searchable (service + commit + index job + search): {stats(samples)}")
    print(f"    of which the index job:                               {stats(jobs)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--tickets", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--fresh", action="store_true", help="regenerate databases and indexes")
    parser.add_argument("--skip-kb", action="store_true")
    parser.add_argument("--database", type=Path, help="an SQLite file made by bench/generate.py (not --tickets)")
    parser.add_argument("--index-dir", type=Path, help="the index directory for --database (default: next to it)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the ticket index first")
    parser.add_argument("--no-check", action="store_true", help="skip the content check of the ticket index")
    parser.add_argument("--incremental", action="store_true", help="measure indexing under a steady change rate")
    parser.add_argument("--rate", type=float, default=20.0, help="ticket changes per second (--incremental)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to change tickets (--incremental)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.skip_kb:
        bench_kb(args.out, args.articles, args.requests, args.fresh)
    for n in [None] if args.database else args.tickets:
        bench_tickets(args.out, n, args.requests, args.fresh, args)


if __name__ == "__main__":
    main()
