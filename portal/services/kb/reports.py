"""The admin KB reports: top searches and KB gaps (searches people typed), suggestion look-ups (made while a
customer writes a ticket), deflections and the ticket cost they saved, article helpfulness. One grouped SELECT each.

A KB gap is a typed search (the KB search page, the API search) that found nothing or whose results nobody opened.
Suggestion look-ups are not gaps: the ticket form sends the whole subject and description, and a suggestion nobody
opened usually means the customer had a new problem to report, not that the KB lacks an article.

Searches and clicks reach ``kb_search_logs`` through the search log buffer; each report on them first moves what
still waits there into the database (in the caller's transaction), so a report right after a search counts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, func, select

from portal.extensions import db
from portal.models import utcnow
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
from portal.services.kb.search_log_buffer import drain_pending

TYPED_SOURCES = (SearchSource.kb, SearchSource.api)  # a person typed the words into a search box
LOOKUP_SOURCES = (SearchSource.suggest,)  # text sent for suggestions (a ticket being written, the API's suggest)


@dataclass
class QueryRow:
    query: str
    searches: int
    avg_results: float
    clicks: int
    last: datetime


@dataclass
class LookupSummary:
    lookups: int  # suggestion look-ups in the period
    with_results: int  # of which found at least one article or FAQ
    opened: int  # of which had a suggestion opened


@dataclass
class DeflectionRow:
    title: str
    kind: str
    count: int
    saved: float


def since(days: int) -> datetime:
    return utcnow() - timedelta(days=days)


def _clicks():
    return func.count(SearchLog.clicked_article_id) + func.count(SearchLog.clicked_faq_id)


def _grouped(days: int | None, sources: tuple[SearchSource, ...], window: tuple[datetime, datetime] | None = None):
    """Searches grouped by normalized query: over the last ``days``, or over ``window`` = [start, end)."""
    start, end = window if window is not None else (since(days), None)
    stmt = (
        select(
            SearchLog.normalized_query,
            func.min(SearchLog.query),
            func.count(),
            func.avg(SearchLog.result_count),
            _clicks(),
            func.max(SearchLog.created_at),
        )
        .where(
            SearchLog.created_at >= start,
            SearchLog.source.in_(sources),
            SearchLog.normalized_query != "",
        )
        .group_by(SearchLog.normalized_query)
    )
    return stmt.where(SearchLog.created_at < end) if end is not None else stmt


def _rows(stmt, limit: int, *order) -> list[QueryRow]:
    drain_pending()
    rows = db.session.execute(stmt.order_by(*order, SearchLog.normalized_query).limit(limit))
    return [QueryRow(example, n, float(avg or 0), c, last) for _norm, example, n, avg, c, last in rows]


def top_searches(days: int = 30, limit: int = 20, *, window: tuple[datetime, datetime] | None = None) -> list[QueryRow]:
    """The questions people typed most often (last ``days``, or ``window`` = [start, end))."""
    return _rows(_grouped(days, TYPED_SOURCES, window), limit, func.count().desc())


def kb_gaps(days: int = 30, limit: int = 20, *, window: tuple[datetime, datetime] | None = None) -> list[QueryRow]:
    """Questions people typed and did not find: no results, or results nobody opened (no-result ones first)."""
    no_results = func.sum(case((SearchLog.result_count == 0, 1), else_=0))
    stmt = _grouped(days, TYPED_SOURCES, window).having(_clicks() == 0)
    return _rows(stmt, limit, no_results.desc(), func.count().desc())


def lookup_summary(days: int = 30) -> LookupSummary:
    drain_pending()
    opened = case((SearchLog.clicked_article_id.is_not(None) | SearchLog.clicked_faq_id.is_not(None), 1), else_=0)
    row = db.session.execute(
        select(func.count(), func.sum(case((SearchLog.result_count > 0, 1), else_=0)), func.sum(opened)).where(
            SearchLog.created_at >= since(days), SearchLog.source.in_(LOOKUP_SOURCES)
        )
    ).one()
    return LookupSummary(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))


def unanswered_lookups(days: int = 30, limit: int = 10) -> list[QueryRow]:
    """Suggestion look-ups that found nothing at all, most frequent first (a hint, not a gap list)."""
    stmt = _grouped(days, LOOKUP_SOURCES).having(func.max(SearchLog.result_count) == 0)
    return _rows(stmt, limit, func.count().desc())


def cost_per_ticket() -> float:
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
            TicketSuggestion.shown_at >= since(days)
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)
