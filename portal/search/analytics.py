"""The search log, clicks, deflections and suggestions shown with a ticket — and the admin reports that read them.

Writers flush, never commit (the request commits). Reports are one grouped SELECT each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select

from portal.extensions import db
from portal.models import Ticket, User, utcnow
from portal.models.kb import (
    Article,
    ArticleStatus,
    Deflection,
    Faq,
    KbCategory,
    SearchLog,
    SearchSource,
    TicketSuggestion,
)
from portal.search.query import analyze

MAX_SHOWN_SUGGESTIONS = 20
_DOC_RE = re.compile(r"^(article|faq):(\d{1,12})$")


def normalize_query(text: str) -> str:
    """Group spellings of one question: stems of the meaningful words, in order, without repeats."""
    terms = list(dict.fromkeys(analyze((text or "")[:500])))
    return " ".join(terms)[:500] if terms else " ".join((text or "").lower().split())[:500]


def log_search(source: SearchSource, text: str, result_count: int, user: User | None) -> SearchLog:
    entry = SearchLog(
        query=(text or "")[:500],
        normalized_query=normalize_query(text),
        source=source,
        result_count=result_count,
        user_id=_user_id(user),
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def record_click(log_id: int, doc: Article | Faq) -> None:
    """A result (article or FAQ) of search ``log_id`` was followed; the first click counts."""
    entry = db.session.get(SearchLog, log_id)
    if entry is None or entry.clicked_article_id is not None or entry.clicked_faq_id is not None:
        return
    if isinstance(doc, Article):
        entry.clicked_article_id = doc.id
    else:
        entry.clicked_faq_id = doc.id
    db.session.flush()


def record_result_click(log_id: int, kind: str, object_id: int) -> None:
    doc = db.session.get(Article if kind == "article" else Faq, object_id)
    if doc is not None:
        record_click(log_id, doc)


def parse_doc_id(value: str) -> tuple[str, int] | None:
    match = _DOC_RE.match((value or "").strip())
    return (match.group(1), int(match.group(2))) if match else None


def suggestable(doc_id: str) -> Article | Faq | None:
    """The published, public article or FAQ named ``doc_id`` (what a customer may be shown), else None."""
    parsed = parse_doc_id(doc_id)
    if parsed is None:
        return None
    kind, object_id = parsed
    if kind == "article":
        article = db.session.get(Article, object_id)
        return article if article is not None and article.is_public else None
    faq = db.session.get(Faq, object_id)
    return faq if faq is not None and faq.is_published else None


def record_deflection(user: User | None, doc: Article | Faq, text: str) -> Deflection:
    deflection = Deflection(
        article_id=doc.id if isinstance(doc, Article) else None,
        faq_id=doc.id if isinstance(doc, Faq) else None,
        user_id=_user_id(user),
        query=(text or "")[:2000],
    )
    db.session.add(deflection)
    db.session.flush()
    return deflection


def record_ticket_suggestions(ticket: Ticket, doc_ids: Iterable[str]) -> int:
    """Remember which articles/FAQs were suggested while ``ticket`` was written (unknown ids are ignored)."""
    added = 0
    for doc_id in list(dict.fromkeys(doc_ids))[:MAX_SHOWN_SUGGESTIONS]:
        doc = suggestable(doc_id)
        if doc is None:
            continue
        db.session.add(
            TicketSuggestion(
                ticket_id=ticket.id,
                article_id=doc.id if isinstance(doc, Article) else None,
                faq_id=doc.id if isinstance(doc, Faq) else None,
            )
        )
        added += 1
    db.session.flush()
    return added


def _user_id(user: User | None) -> int | None:
    return user.id if user is not None and getattr(user, "is_authenticated", False) else None


# --------------------------------------------------------------------------- reports


@dataclass
class QueryRow:
    query: str
    searches: int
    avg_results: float
    clicks: int
    last: datetime


@dataclass
class DeflectionRow:
    title: str
    kind: str
    count: int
    saved: float


def since(days: int) -> datetime:
    return utcnow() - timedelta(days=days)


def top_searches(days: int = 30, limit: int = 20) -> list[QueryRow]:
    return _grouped(days, limit, having=None)


def kb_gaps(days: int = 30, limit: int = 20) -> list[QueryRow]:
    """Questions people searched for and did not find: no results, or results nobody opened."""
    return _grouped(days, limit, having="gaps")


def _grouped(days: int, limit: int, having: str | None) -> list[QueryRow]:
    clicks = func.count(SearchLog.clicked_article_id) + func.count(SearchLog.clicked_faq_id)
    stmt = (
        select(
            SearchLog.normalized_query,
            func.min(SearchLog.query),
            func.count(),
            func.avg(SearchLog.result_count),
            clicks,
            func.max(SearchLog.created_at),
        )
        .where(
            SearchLog.created_at >= since(days),
            SearchLog.source != SearchSource.ticket,
            SearchLog.normalized_query != "",
        )
        .group_by(SearchLog.normalized_query)
    )
    if having == "gaps":
        stmt = stmt.having(clicks == 0)
        order = [func.sum(case((SearchLog.result_count == 0, 1), else_=0)).desc(), func.count().desc()]
    else:
        order = [func.count().desc()]
    rows = db.session.execute(stmt.order_by(*order, SearchLog.normalized_query).limit(limit))
    return [QueryRow(example, n, float(avg or 0), c, last) for _norm, example, n, avg, c, last in rows]


def cost_per_ticket() -> float:
    from flask import current_app

    return float(current_app.config.get("KB_COST_PER_TICKET", 190))


def deflections_by_article(days: int = 90, limit: int = 20) -> list[DeflectionRow]:
    cost = cost_per_ticket()
    title = func.coalesce(Article.title, Faq.question)
    kind = case((Deflection.article_id.is_not(None), "article"), else_="faq")
    stmt = (
        select(title, kind, func.count())
        .select_from(Deflection)
        .outerjoin(Article, Article.id == Deflection.article_id)
        .outerjoin(Faq, Faq.id == Deflection.faq_id)
        .where(Deflection.created_at >= since(days))
        .group_by(title, kind)
        .order_by(func.count().desc(), title)
        .limit(limit)
    )
    return [DeflectionRow(t or "(deleted)", k, n, n * cost) for t, k, n in db.session.execute(stmt)]


def deflections_by_week(days: int = 90) -> list[tuple[str, int, float]]:
    """(ISO week "2026-W07", deflections, cost saved), oldest first; weeks are bucketed in Python (portable)."""
    cost = cost_per_ticket()
    weeks: dict[str, int] = {}
    for (created,) in db.session.execute(select(Deflection.created_at).where(Deflection.created_at >= since(days))):
        year, week, _ = created.isocalendar()
        key = f"{year}-W{week:02d}"
        weeks[key] = weeks.get(key, 0) + 1
    return [(week, n, n * cost) for week, n in sorted(weeks.items())]


def deflection_totals(days: int = 90) -> tuple[int, float]:
    n = db.session.scalar(select(func.count()).select_from(Deflection).where(Deflection.created_at >= since(days))) or 0
    return n, n * cost_per_ticket()


def helpfulness(limit: int = 30) -> list[tuple[Article, str, int, int]]:
    """Published articles with votes, least helpful first: (article, category name, yes, no)."""
    stmt = (
        select(Article, KbCategory.name)
        .join(KbCategory, KbCategory.id == Article.category_id)
        .where(Article.status == ArticleStatus.published, (Article.helpful_yes + Article.helpful_no) > 0)
        .order_by(
            (Article.helpful_no * 1.0 / (Article.helpful_yes + Article.helpful_no)).desc(),
            Article.helpful_no.desc(),
            Article.id,
        )
        .limit(limit)
    )
    return [(a, cat, a.helpful_yes, a.helpful_no) for a, cat in db.session.execute(stmt)]


def suggestion_stats(days: int = 90) -> tuple[int, int]:
    """(tickets filed after suggestions were shown, suggestions shown with them)."""
    row = db.session.execute(
        select(func.count(func.distinct(TicketSuggestion.ticket_id)), func.count()).where(
            and_(TicketSuggestion.shown_at >= since(days))
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


# --------------------------------------------------------------------------- click links


def click_token(log_id: int, doc_id: str) -> str:
    """A signed (search, result) pair for the result link, so clicks cannot be forged for other searches."""
    from flask import current_app
    from itsdangerous import URLSafeSerializer

    return URLSafeSerializer(current_app.secret_key, salt="kb-search-click").dumps([log_id, doc_id])


def read_click_token(token: str) -> tuple[int, str] | None:
    from flask import current_app
    from itsdangerous import BadSignature, URLSafeSerializer

    try:
        log_id, doc_id = URLSafeSerializer(current_app.secret_key, salt="kb-search-click").loads(token or "")
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(log_id, int) or parse_doc_id(str(doc_id)) is None:
        return None
    return log_id, str(doc_id)


def result_url(kind: str, object_id: int) -> str | None:
    """Where a search result points: the article page or the FAQ on its category's FAQ page."""
    from flask import url_for

    if kind == "article":
        article = db.session.get(Article, object_id)
        return url_for("kb.article", slug=article.slug) if article is not None else None
    faq = db.session.get(Faq, object_id)
    return url_for("kb.category_faqs", slug=faq.category.slug) + f"#faq-{faq.id}" if faq is not None else None
