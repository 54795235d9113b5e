"""Search benchmarks: suggestions at 2,000 articles, the KB category page with 333 articles, staff ticket search at
10k and 100k tickets, and how long a change takes to become searchable.

    python bench/bench_search.py [--out bench/out] [--articles 2000] [--tickets 10000 100000] [--requests 200]

Databases are SQLite files built by ``bench/generate.py`` (reused when present unless ``--fresh``); indexes live next
to them. Requests go through the Flask test client in this process (app + database + Whoosh + template rendering,
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


def bench_tickets(out: Path, tickets: int, requests: int, fresh: bool) -> None:
    from portal.extensions import db
    from portal.search.indexing import rebuild_tickets

    print(f"\n== Tickets: {tickets:,} ==")
    url = generate(out / f"search-t{tickets}.db", tickets, fresh)
    index_dir = out / f"search-t{tickets}-index"
    app = make_app(url, index_dir)
    with app.app_context():
        from portal.search.indexing import check_tickets

        t = time.perf_counter()
        report = check_tickets()
        print(f"  search check (content digests of {report.rows:,} tickets): {time.perf_counter() - t:.1f}s")
        if fresh or not report.ok:
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
            )
        else:
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
        for word in COMMON_WORDS:
            total = search_tickets(agent, word).total
            samples = timed(lambda i, w=word: search_tickets(agent, w), requests)
            label = f'staff search_tickets("{word}") (~{total:,} matches):'
            print(f"  {label:<55}{stats(samples)}")
    staff = login(app, AGENT)

    def http(i: int) -> None:
        assert (
            staff.get("/agent/search", query_string={"q": TICKET_QUERIES[i % len(TICKET_QUERIES)]}).status_code == 200
        )

    print(f"  GET /agent/search (full page):                         {stats(timed(http, requests))}")
    with app.app_context():
        _change_latency_tickets()


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
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.skip_kb:
        bench_kb(args.out, args.articles, args.requests, args.fresh)
    for n in args.tickets:
        bench_tickets(args.out, n, args.requests, args.fresh)


if __name__ == "__main__":
    main()
